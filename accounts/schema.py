"""How the OpenAPI schema describes our authentication, so that Swagger UI's
"Authorize" takes a token."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.PersonalTokenAuthentication"
    name = "PersonalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token (page, POST /api/v1/tokens or "
            "manage.py createtoken); needed when ACCOUNTS=required.",
        }


class PageSessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.PageSessionAuthentication"
    name = "PageSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
