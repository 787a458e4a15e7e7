"""manage.py createtoken <username> --name <name> [--expires-in-days N]: a new
personal access token, printed as the last line, for scripts to read."""

from django.core.management.base import BaseCommand, CommandError

from accounts.services import personal_token_create, user_by_username


class Command(BaseCommand):
    help = "Create a personal access token for a user; prints it as the last line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for.")
        parser.add_argument(
            "--expires-in-days", type=int, default=None, help="Default: never."
        )

    def handle(self, *args, username: str, name: str, expires_in_days, **options):
        user = user_by_username(username)
        if user is None:
            raise CommandError(f"No user {username!r}: make one with createsuperuser.")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be 1 or more.")
        token, text = personal_token_create(
            user=user, name=name, expires_in_days=expires_in_days
        )
        self.stderr.write(
            f"Token {token.public_id} {name!r} for {username}; it is shown once, "
            "send it as Authorization: Bearer <token>:"
        )
        self.stdout.write(text)
