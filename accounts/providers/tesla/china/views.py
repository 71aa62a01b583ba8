from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView

from accounts.providers.tesla.views import TeslaChinaOAuth2Adapter

oauth2_login = OAuth2LoginView.adapter_view(TeslaChinaOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(TeslaChinaOAuth2Adapter)
