"""The builder and the admin share these forms, so both validate the same way."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.forms import BaseInlineFormSet, inlineformset_factory
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fleetportal import hostnames
from fleetportal.vin import split_vins
from partners import selectors as partner_selectors
from telemetry import catalogue, fleet, streaming, validation
from telemetry.models import TelemetryConfig, TelemetryField
from telemetry.selectors import revision_of
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
            self.initial.setdefault("port", 443)
            self.initial.setdefault("prefer_typed", True)
            self.initial.setdefault("delivery_policy", TelemetryConfig.DeliveryPolicy.LATEST)
            self.initial.setdefault("alert_types", ["service"])
            self.initial.setdefault("exp", timezone.now() + DEFAULT_LIFETIME)
        if self.instance.pk is not None:
            self.initial["revision"] = revision_of(self.instance.updated_at)
        # An integer field with min 1 / max 65535 in the browser; the server checks again.
        self.fields["port"].widget.attrs.update(min=1, max=65535)
        # The host rule for this portal's partner domain, shown before anyone is refused.
        allowed = hostnames.allowed_hosts(partner_selectors.partner_domain())
        if allowed:
            self.fields["hostname"].help_text = allowed

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
        known = fleet.known_vins(valid)
        problems = []
        for vin in split_vins(text):  # in the order pasted
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
        return sorted(valid)


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
