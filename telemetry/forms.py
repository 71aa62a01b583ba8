"""The builder and the admin share these forms, so both validate the same way."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.forms import BaseInlineFormSet, inlineformset_factory
from django.http import QueryDict
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fleetportal import hostnames
from fleetportal.vin import split_vins
from partners import selectors as partner_selectors
from telemetry import catalogue, fleet, streaming, validation
from telemetry.models import TelemetryConfig, TelemetryField
from telemetry.selectors import revision_of
from usage import services as usage_services
from vehicles.forms import RosterForm
from vehicles.models import Vehicle

ALERT_TYPES = [("service", gettext_lazy("Service alerts"))]
# Tesla documents no maximum for `exp` (§8.4); a year keeps the re-sign sweep rare.
DEFAULT_LIFETIME = dt.timedelta(days=365)


class TelemetryConfigForm(forms.ModelForm):
    alert_types = forms.MultipleChoiceField(
        label=gettext_lazy("Alert types"),
        choices=ALERT_TYPES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    # Plain integer fields: the model's PositiveIntegerField would answer "greater than or
    # equal to 0" before our own message could say what the range is.
    port = forms.IntegerField(label=gettext_lazy("Port"), required=False)
    # What the editor opened: a save over someone else's newer save is refused, not merged.
    revision = forms.CharField(widget=forms.HiddenInput, required=False)
    exp = forms.DateTimeField(
        label=gettext_lazy("Expires"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=gettext_lazy(
            "The car drops the config after this moment; the portal re-signs it before then."
        ),
    )

    class Meta:
        model = TelemetryConfig
        fields = [
            "name",
            "hostname",
            "port",
            "ca",
            "exp",
            "delivery_policy",
            "alert_types",
            "prefer_typed",
        ]
        widgets = {"ca": forms.Textarea(attrs={"rows": 6, "spellcheck": "false"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and not self.is_bound:
            # The new instance's own (empty) values are in `initial` already, so each default
            # fills an empty one (setdefault would leave an empty expiry empty).
            defaults = {
                "port": 443,
                "prefer_typed": True,
                "delivery_policy": TelemetryConfig.DeliveryPolicy.LATEST,
                "alert_types": ["service"],
                "exp": timezone.now() + DEFAULT_LIFETIME,
            }
            for name, value in defaults.items():
                if self.initial.get(name) in (None, "", []):
                    self.initial[name] = value
        if self.instance.pk is not None:
            # setdefault: a form redisplayed after "Apply preset" keeps the revision the
            # editor opened, so a save over someone else's newer save is still refused.
            self.initial.setdefault("revision", revision_of(self.instance.updated_at))
        # An integer field with min 1 / max 65535 in the browser; the server checks again.
        self.fields["port"].widget.attrs.update(min=1, max=65535)
        # The host rule for this portal's partner domain, shown before anyone is refused.
        allowed = hostnames.allowed_hosts(partner_selectors.partner_domain())
        if allowed:
            self.fields["hostname"].help_text = allowed

    @classmethod
    def redisplay(cls, data, *, instance: TelemetryConfig) -> TelemetryConfigForm:
        """An unbound form showing what was posted: no "required" errors for a field the
        editor has not reached yet when all they did was apply a preset."""
        form = cls(instance=instance)
        initial = {
            name: field.widget.value_from_datadict(data, {}, form.add_prefix(name))
            for name, field in form.fields.items()
        }
        return cls(instance=instance, initial=initial)

    def clean_hostname(self) -> str:
        host = hostnames.validate_server_hostname(self.cleaned_data.get("hostname", ""))
        problem = hostnames.root_problem(host, domain=partner_selectors.partner_domain())
        if problem:
            raise forms.ValidationError(problem, code="root")
        return host

    def clean_port(self) -> int:
        port = self.cleaned_data.get("port")
        validation.validate_port(port)
        return port

    def clean_ca(self) -> str:
        return validation.validate_ca(self.cleaned_data.get("ca", ""))

    def clean_exp(self) -> dt.datetime | None:
        exp = self.cleaned_data.get("exp")
        validation.validate_exp(exp)
        return exp


class TelemetryFieldForm(forms.ModelForm):
    name = forms.CharField(
        label=gettext_lazy("Field"),
        max_length=64,
        widget=forms.TextInput(attrs={"list": "telemetry-catalogue", "autocomplete": "off"}),
    )
    interval_seconds = forms.IntegerField(
        label=gettext_lazy("Interval (s)"), required=False, initial=60
    )
    resend_interval_seconds = forms.IntegerField(
        label=gettext_lazy("Resend interval (s)"), required=False
    )

    class Meta:
        model = TelemetryField
        # keep_history is the portal's own choice (the owner's chart): config_payload leaves
        # it out, so it never changes what a car receives or the version's content hash.
        fields = [
            "name",
            "interval_seconds",
            "minimum_delta",
            "resend_interval_seconds",
            "keep_history",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("interval_seconds", "resend_interval_seconds"):
            self.fields[name].widget.attrs["min"] = 1

    def has_changed(self) -> bool:
        # The builder pre-fills new rows (defaults, catalogue clicks); Django would treat an
        # unedited pre-filled extra row as empty and drop it, so a named new row counts.
        named = str(self.data.get(self.add_prefix("name")) or "").strip() if self.is_bound else ""
        if named and self.instance.pk is None:
            return True
        return super().has_changed()

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        validation.validate_field_name(name)
        return name

    def clean_interval_seconds(self) -> int:
        value = self.cleaned_data.get("interval_seconds")
        if value is None:
            raise forms.ValidationError(
                _("Enter a whole number of seconds, at least 1."), code="required"
            )
        validation.validate_positive(value)
        return value

    def clean_resend_interval_seconds(self) -> int | None:
        value = self.cleaned_data.get("resend_interval_seconds")
        validation.validate_positive(value)
        return value

    def clean_minimum_delta(self) -> float | None:
        value = self.cleaned_data.get("minimum_delta")
        validation.validate_delta(value)
        return value


class BaseFieldFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        # Ours first: Django's own unique check would say only "correct the duplicate data".
        names: set[str] = set()
        kept = 0
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            if form.cleaned_data.get("DELETE"):
                continue
            name = form.cleaned_data.get("name")
            if name in names:
                raise forms.ValidationError(
                    _("%(name)s is listed twice.") % {"name": name}, code="duplicate"
                )
            if name:
                names.add(name)
                kept += 1
        if kept == 0:
            raise forms.ValidationError(_("Add at least one field."), code="no_fields")
        super().clean()


def field_formset(*, extra: int = 3):
    return inlineformset_factory(
        TelemetryConfig,
        TelemetryField,
        form=TelemetryFieldForm,
        formset=BaseFieldFormSet,
        extra=extra,
        can_delete=True,
        max_num=len(catalogue.signal_names()),
        validate_max=True,
        # A forged TOTAL_FORMS must not make the page build thousands of rows.
        absolute_max=len(catalogue.signal_names()) + 10,
    )


def default_field_rows() -> list[dict[str, object]]:
    return [
        {"name": name, "interval_seconds": n, "keep_history": name in catalogue.DEFAULT_HISTORY}
        for name, n in catalogue.DEFAULT_FIELDS
    ]


class PresetForm(forms.Form):
    """The builder's preset choice; a button posts it with the rest of the builder."""

    preset = forms.ChoiceField(
        label=gettext_lazy("Preset"),
        choices=[(p.key, p.label) for p in catalogue.PRESETS],
    )


def preset_field_data(data, *, preset: catalogue.Preset, prefix: str = "fields") -> dict:
    """The posted builder with its field rows replaced by the preset's.

    Saved rows (they carry an id) are kept: one the preset names takes its interval, the
    others are marked for removal, so saving afterwards gives exactly the preset's fields.
    Unsaved rows are dropped; two blank rows follow for additions.
    """
    wanted = {row.name: row for row in preset.rows}
    out = {k: v for k, v in data.lists() if not k.startswith(f"{prefix}-")}
    rows: list[dict[str, object]] = []
    total = _int(data.get(f"{prefix}-TOTAL_FORMS"))
    for i in range(min(total, len(catalogue.signal_names()) + 10)):
        row_id = data.get(f"{prefix}-{i}-id")
        if not row_id:
            continue
        name = str(data.get(f"{prefix}-{i}-name") or "").strip()
        row = {"id": row_id, "name": name}
        if name in wanted:
            chosen = wanted.pop(name)
            row.update(interval_seconds=chosen.interval_seconds, keep_history=chosen.keep_history)
        else:
            row.update(
                interval_seconds=data.get(f"{prefix}-{i}-interval_seconds", ""),
                keep_history=bool(data.get(f"{prefix}-{i}-keep_history")),
                DELETE=True,
            )
        rows.append(row)
    initial_count = len(rows)
    rows += [
        {"name": r.name, "interval_seconds": r.interval_seconds, "keep_history": r.keep_history}
        for r in preset.rows
        if r.name in wanted
    ]
    # As the browser sends an untouched extra row: the default interval, or Django counts the
    # row as edited and asks for a name.
    rows += [{"interval_seconds": 60}, {"interval_seconds": 60}]
    for i, row in enumerate(rows):
        for key, value in row.items():
            if value is True:
                out[f"{prefix}-{i}-{key}"] = ["on"]
            elif value is not False:
                out[f"{prefix}-{i}-{key}"] = [str(value)]
    out[f"{prefix}-TOTAL_FORMS"] = [str(len(rows))]
    out[f"{prefix}-INITIAL_FORMS"] = [str(initial_count)]
    out[f"{prefix}-MIN_NUM_FORMS"] = ["0"]
    out[f"{prefix}-MAX_NUM_FORMS"] = ["1000"]
    query = QueryDict(mutable=True)
    for key, values in out.items():
        query.setlist(key, values)
    return query


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def formset_intervals(formset) -> list[tuple[int, int | None]]:
    """(interval, resend) of each named, kept row as shown, for the signals estimate.

    Rows whose numbers do not parse count as nothing: the page shows their error instead.
    """
    rows = []
    for form in formset.forms:
        if not str(form["name"].value() or "").strip():
            continue
        if formset.can_delete and form["DELETE"].value() not in (None, False, "", "false"):
            continue
        interval = _int(form["interval_seconds"].value())
        if interval < 1:
            continue
        resend = _int(form["resend_interval_seconds"].value()) or None
        rows.append((interval, resend))
    return rows


class AssignForm(forms.Form):
    """The config page's paste path: all or nothing. While any VIN is malformed or unknown to
    the portal nothing is assigned; each is named with what is wrong, and the paste stays."""

    MAX_PROBLEMS_SHOWN = RosterForm.MAX_PROBLEMS_SHOWN

    vins = forms.CharField(
        label=gettext_lazy("VINs"),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=gettext_lazy(
            "One or more VINs, separated by spaces, commas or new lines. Nothing is assigned "
            "while any VIN is wrong: each wrong one is named, and your list stays here to fix."
        ),
    )

    def clean_vins(self) -> list[str]:
        text = self.cleaned_data["vins"]
        valid, malformed = RosterForm.parse_paste(text)
        if not valid and not malformed:
            raise forms.ValidationError(_("Enter at least one VIN."), code="required")
        # A car the portal already has came from Tesla: it is assignable even where its VIN
        # breaks a rule (the sandbox's, and some non-North-American VINs, have no valid check
        # digit); only VINs the portal does not have are judged by the rules.
        known = fleet.known_vins([*valid, *malformed])
        problems = []
        for vin in split_vins(text):  # in the order pasted
            if vin in known:
                continue
            if vin in malformed:
                problems.append(
                    _("%(vin)s is not a valid VIN: %(why)s")
                    % {"vin": vin[:40], "why": " ".join(malformed[vin])}
                )
            elif vin not in known:
                problems.append(
                    _(
                        "%(vin)s is a valid VIN, but no vehicle with it is known to the portal: "
                        "check it, or have its owner link their Tesla account and sync first."
                    )
                    % {"vin": vin}
                )
        if problems:
            shown = problems[: self.MAX_PROBLEMS_SHOWN]
            if len(problems) > len(shown):
                shown.append(
                    _("More wrong VINs not shown: %(n)d.") % {"n": len(problems) - len(shown)}
                )
            raise forms.ValidationError(shown, code="invalid")
        return sorted(known)


YES_NO_ANY = [("", gettext_lazy("Any")), ("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))]


class FleetFilterForm(forms.Form):
    """The staff fleet list's filters (a GET form; the assign form sends them back)."""

    vin = forms.CharField(label=gettext_lazy("VIN contains"), required=False, max_length=17)
    region = forms.ChoiceField(label=gettext_lazy("Region"), required=False, choices=())
    model = forms.ChoiceField(
        label=gettext_lazy("Model"),
        required=False,
        choices=[("", gettext_lazy("All models")), *Vehicle.Model.choices],
    )
    key_paired = forms.ChoiceField(
        label=gettext_lazy("Key paired"),
        required=False,
        choices=[*YES_NO_ANY, ("unknown", gettext_lazy("Not known yet"))],
    )
    firmware_min = forms.CharField(
        label=gettext_lazy("Firmware at least"), required=False, max_length=24
    )
    firmware_below = forms.CharField(
        label=gettext_lazy("Firmware below"), required=False, max_length=24
    )
    roster = forms.ChoiceField(
        label=gettext_lazy("On the fleet roster"), required=False, choices=YES_NO_ANY
    )
    linked = forms.ChoiceField(
        label=gettext_lazy("Listed by a linked account"), required=False, choices=YES_NO_ANY
    )
    config = forms.ChoiceField(label=gettext_lazy("Assigned configuration"), required=False)
    state = forms.ChoiceField(
        label=gettext_lazy("Streaming state"),
        required=False,
        choices=[("", gettext_lazy("All states")), *streaming.State.choices],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [
            ("", gettext_lazy("All regions")),
            *((code, code) for code in partner_selectors.region_codes()),
        ]
        self.fields["config"].choices = [
            ("", gettext_lazy("Any")),
            (fleet.NO_CONFIG, gettext_lazy("No configuration")),
            *TelemetryConfig.objects.order_by("name").values_list("pk", "name"),
        ]
        for name in ("firmware_min", "firmware_below"):
            self.fields[name].widget.attrs.update(placeholder="2024.26", inputmode="decimal")

    def _firmware(self, name: str) -> str:
        value = self.cleaned_data.get(name, "").strip()
        if value and not fleet.FIRMWARE_FILTER.fullmatch(value):
            raise forms.ValidationError(
                _("Write a version as numbers separated by dots, for example 2024.26."),
                code="invalid",
            )
        return value

    def clean_firmware_min(self) -> str:
        return self._firmware("firmware_min")

    def clean_firmware_below(self) -> str:
        return self._firmware("firmware_below")

    def filters(self) -> fleet.FleetFilters:
        """The filters of a valid form (no filter when unbound)."""
        data = self.cleaned_data if self.is_bound else {}
        return fleet.FleetFilters(**{name: data.get(name) or "" for name in self.fields})

    def active(self) -> list[tuple[str, str]]:
        """The filters set, as (name, value): the assign form sends them back."""
        if not self.is_bound or not self.is_valid():
            return []
        return [(name, value) for name, value in self.cleaned_data.items() if value]


class FleetAssignForm(forms.Form):
    target = forms.ModelChoiceField(
        label=gettext_lazy("Configuration"),
        queryset=TelemetryConfig.objects.order_by("name"),
        empty_label=gettext_lazy("Choose a configuration"),
        error_messages={
            "required": gettext_lazy("Choose the configuration to assign the vehicles to."),
            "invalid_choice": gettext_lazy(
                "That configuration no longer exists: choose one from the list."
            ),
        },
    )
    all_matching = forms.BooleanField(required=False)


COST_DAYS = 30


def builder_catalogue_context(formset, preset_form: PresetForm) -> dict[str, object]:
    """What the builder shows beside the rows: each row's catalogue entry, the presets and the
    signals estimate (the same figures builder.js recomputes as rows change)."""
    intervals = formset_intervals(formset)
    ceiling = catalogue.signals_per_day(intervals)
    example = catalogue.signals_per_day(intervals, hours=catalogue.STREAMING_HOURS_EXAMPLE)
    signal_rate = usage_services.rates()["signals"]
    return {
        "field_rows": [
            (form, catalogue.details_for(str(form["name"].value() or "").strip()))
            for form in formset.forms
        ],
        "catalogue_groups": [
            (key, label, [(name, catalogue.details_for(name)) for name in names])
            for key, label, names in catalogue.grouped()
        ],
        "preset_form": preset_form,
        "presets": catalogue.PRESETS,
        "presets_json": {
            p.key: [[r.name, r.interval_seconds, r.keep_history] for r in p.rows]
            for p in catalogue.PRESETS
        },
        "details_json": catalogue.details_json(),
        "estimate": {
            "ceiling": _grouped(ceiling),
            "example": _grouped(example),
            "fields": len(intervals),
            "hours": catalogue.STREAMING_HOURS_CEILING,
            "example_hours": catalogue.STREAMING_HOURS_EXAMPLE,
            # The usage page's rate (USAGE_RATE_SIGNALS): what 30 such days cost per car.
            "rate": signal_rate,
            "ceiling_cost": signals_cost(ceiling, signal_rate),
            "example_cost": signals_cost(example, signal_rate),
        },
    }


def signals_cost(per_day: int, rate: Decimal) -> str:
    """30 days of `per_day` signals at `rate` dollars a signal, to the cent (builder.js
    computes the same as rows change)."""
    cost = (Decimal(per_day) * COST_DAYS * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return number_format(cost, 2, force_grouping=True)


def _grouped(number: int) -> str:
    return number_format(number, force_grouping=True)
