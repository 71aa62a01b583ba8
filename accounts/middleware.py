"""A signed-in user's saved language, on every request (after Django's LocaleMiddleware)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


def user_language_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Speak the language saved on the signed-in user's profile, whatever the browser's cookie
    or Accept-Language say, and leave the long-lived cookie saying it too: a new browser, or
    one whose cookies were cleared, speaks it from the first page after signing in. Set after
    AuthenticationMiddleware; a user who never chose keeps LocaleMiddleware's choice."""

    def middleware(request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = user.language if user is not None and user.is_authenticated else ""
        if language and language in dict(settings.LANGUAGES):
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        else:
            language = ""
        response = get_response(request)
        cookie = settings.LANGUAGE_COOKIE_NAME
        # The language switcher sets its own cookie (the new choice): never undo it.
        if language and cookie not in response.cookies and request.COOKIES.get(cookie) != language:
            response.set_cookie(
                cookie,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response

    return middleware
