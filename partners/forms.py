from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from fleetportal.vin import is_well_formed_vin, normalise_vin
from partners import selectors


class RegionChoiceField(forms.ChoiceField):
    def __init__(self, *, allow_all: bool = False, **kwargs: object) -> None:
        super().__init__(choices=(), **kwargs)
        # Shown without a visible label (a compact group beside the VIN): named for screen
        # readers all the same.
        self.widget.attrs.setdefault("aria-label", self.label or _("Region"))
        # Regions come from the configured environment's table, read per form.
        choices = [(code, code) for code in selectors.region_codes()]
        if allow_all:
            choices.append(("all", _("All regions")))
        self.choices = choices


class RegisterForm(forms.Form):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["region"] = RegionChoiceField(allow_all=True, label=_("Region"))


class CheckForm(forms.Form):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["region"] = RegionChoiceField(label=_("Region"))


class KeyGenerateForm(forms.Form):
    replace = forms.BooleanField(
        required=False, label=_("Replace the existing key (every region must be registered again)")
    )


class PairingForm(forms.Form):
    vin = forms.CharField(
        label=_("VIN"),
        max_length=17,
        min_length=17,
        widget=forms.TextInput(attrs={"aria-label": _("VIN"), "placeholder": _("VIN")}),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["region"] = RegionChoiceField(label=_("Region"))

    def clean_vin(self) -> str:
        vin = normalise_vin(self.cleaned_data["vin"])
        if not is_well_formed_vin(vin):
            raise forms.ValidationError(_("A VIN has 17 letters and digits, without I, O or Q."))
        return vin
