"""The page's sign-in around it (login and logout are Django's own views), and
personal access tokens under /api/v1/tokens: list, create, revoke."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.modes import accounts_required
from accounts.selectors import personal_tokens_of
from accounts.serializers import (
    PersonalTokenCreatedSerializer,
    PersonalTokenInputSerializer,
    PersonalTokenSerializer,
)
from accounts.services import personal_token_create, personal_token_revoke
from api.permissions import NotCrossSite
from api.schema import ERRORS, WRITE_ERRORS, ErrorSerializer

# With ACCOUNTS=open no one is signed in, so no one has tokens: 403.
TOKEN_ERRORS = ERRORS | {403: ErrorSerializer}


def home(request: HttpRequest) -> HttpResponse:
    """The page; with ACCOUNTS=required, for a signed-in user only."""
    if accounts_required() and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return render(
        request,
        "index.html",
        {"accounts_required": accounts_required()},
    )


class LoginView(auth_views.LoginView):
    """Django's login, with a link to sign up when ACCOUNTS_SIGNUP allows."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            signup_enabled=settings.ACCOUNTS_SIGNUP, **kwargs
        )


def signup(request: HttpRequest) -> HttpResponse:
    """Make an account and sign in with it, when ACCOUNTS_SIGNUP allows."""
    if not (accounts_required() and settings.ACCOUNTS_SIGNUP):
        raise Http404("Sign-up is off.")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.save())
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form})


class PersonalTokenListView(APIView):
    # Tokens belong to users: with ACCOUNTS=open there is no one to own one.
    permission_classes = [NotCrossSite, IsAuthenticated]

    @extend_schema(responses={200: PersonalTokenSerializer(many=True), **TOKEN_ERRORS})
    def get(self, request: Request) -> Response:
        """Your tokens that still work (never their text)."""
        tokens = personal_tokens_of(request.user)
        return Response(PersonalTokenSerializer(tokens, many=True).data)

    @extend_schema(
        request=PersonalTokenInputSerializer,
        responses={201: PersonalTokenCreatedSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        """A new token, named, expiring after `expires_in_days` if given; its
        text is in this answer only."""
        token_input = PersonalTokenInputSerializer(data=request.data)
        token_input.is_valid(raise_exception=True)
        token, text = personal_token_create(
            user=request.user, **token_input.validated_data
        )
        data = PersonalTokenSerializer(token).data | {"token": text}
        return Response(data, status=status.HTTP_201_CREATED)


class PersonalTokenDetailView(APIView):
    permission_classes = [NotCrossSite, IsAuthenticated]

    @extend_schema(responses={204: None, **WRITE_ERRORS})
    def delete(self, request: Request, token_id: str) -> Response:
        """Revoke one of your tokens: it stops working at once."""
        if not personal_token_revoke(user=request.user, public_id=token_id):
            raise NotFound(f"No token {token_id!r} of yours.")
        return Response(status=status.HTTP_204_NO_CONTENT)
