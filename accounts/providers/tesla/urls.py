from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from accounts.providers.tesla.provider import TeslaProvider

urlpatterns = default_urlpatterns(TeslaProvider)
