from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from partners import selectors as partner_selectors
from vehicles import services
from vehicles import vin as vinlib
from vehicles.models import RosterEntry, Vehicle
from vehicles.selectors import SORTS


class VehicleFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("VIN or name")}),
    )
    model = forms.ChoiceField(
        label=_("Model"),
        required=False,
        choices=[("", _("All models")), *Vehicle.Model.choices],
    )
    # Choices come from the configured environment's region table, read per form.
    region = forms.ChoiceField(label=_("Region"), required=False, choices=())
    key_paired = forms.ChoiceField(
        label=_("Key"),
        required=False,
        choices=[
            ("", _("Any key state")),
            ("yes", _("Key paired")),
            ("no", _("Key not paired")),
            ("unknown", _("Key state unknown")),
        ],
    )
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[
            ("name", _("Name")),
            ("vin", _("VIN")),
            ("model", _("Model")),
            ("year", _("Newest model year")),
            ("seen", _("Last seen")),
        ],
    )
    gone = forms.BooleanField(label=_("Include vehicles no longer listed"), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = [
            ("", _("All regions")),
            *((code, code) for code in partner_selectors.region_codes()),
        ]
        # The filter bar shows no <label>s (one compact row); screen readers still get one.
        for field in self.fields.values():
            field.widget.attrs.setdefault("aria-label", field.label)

    def filters(self) -> dict[str, object]:
        data = self.cleaned_data if self.is_valid() else {}
        sort = data.get("sort") or "name"
        return {
            "q": data.get("q", ""),
            "model": data.get("model", ""),
            "region": data.get("region", ""),
            "key_paired": data.get("key_paired", ""),
            "include_gone": bool(data.get("gone")),
            "sort": sort if sort in SORTS else "name",
        }


class RosterForm(forms.Form):
    # One paste is one request and one `vin__in` query per step of roster_add (SQLite allows
    # 32,766 parameters per statement): bigger fleets paste in parts.
    MAX_VINS = 10_000
    # Room for a VIN and generous separators; checked before any parsing. Not the field's
    # max_length: browsers would silently cut a longer paste mid-VIN.
    MAX_CHARS = MAX_VINS * 32
    # Listing every bad VIN of a large paste makes an unreadable page.
    MAX_PROBLEMS_SHOWN = 20

    vins = forms.CharField(
        label=_("VINs"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One or many, separated by spaces, commas or new lines."),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=200)

    @classmethod
    def parse_paste(cls, text: str) -> tuple[list[str], dict[str, list[str]]]:
        """`roster_parse` within the paste limits (the telemetry assign form shares them)."""
        too_many = forms.ValidationError(
            _("Paste at most %(max)s VINs at a time."),
            code="too_many",
            params={"max": f"{cls.MAX_VINS:,}"},
        )
        if len(text) > cls.MAX_CHARS:
            raise too_many
        vins, problems = services.roster_parse(text)
        if len(vins) + len(problems) > cls.MAX_VINS:
            raise too_many
        return vins, problems

    def clean_vins(self) -> list[str]:
        vins, problems = self.parse_paste(self.cleaned_data["vins"])
        if problems:
            shown = list(problems.items())[: self.MAX_PROBLEMS_SHOWN]
            messages = [f"{vin[:40] or '?'}: {' '.join(errors)}" for vin, errors in shown]
            if len(problems) > len(shown):
                messages.append(
                    _("More invalid VINs not shown: %(n)d.") % {"n": len(problems) - len(shown)}
                )
            raise forms.ValidationError(messages)
        if not vins:
            raise forms.ValidationError(_("Enter at least one VIN."))
        return vins


class RosterEntryAdminForm(forms.ModelForm):
    """Admin entry of one roster VIN, validated as the roster form does."""

    class Meta:
        model = RosterEntry
        fields = ("vin", "note")

    def clean_vin(self) -> str:
        vin = vinlib.normalise_vin(self.cleaned_data["vin"])
        check = vinlib.vin_check(vin)
        if check.errors:
            raise forms.ValidationError(check.errors)
        return vin
