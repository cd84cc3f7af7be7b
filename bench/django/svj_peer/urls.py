from django.urls import path

from . import views

urlpatterns = [
    path("server/set_session/", views.set_session, name="set_session"),
    path("server/get_session/", views.get_session, name="get_session"),
    path("token/get_session/", views.get_session, name="token_get_session"),
    path("server/logout/", views.logout, name="logout"),
    path("healthz", views.healthz),
]
