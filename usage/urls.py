from django.urls import path

from usage import views

app_name = "usage"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("resume/", views.resume, name="resume"),
]
