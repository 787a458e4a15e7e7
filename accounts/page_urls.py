"""The page, and signing in to it: Django's own login and logout views (logout
by POST), and sign-up when ACCOUNTS_SIGNUP allows."""

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("", views.home, name="home"),
]
