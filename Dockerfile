# One image, two roles (see docker-compose.yml and terraform/):
#   web (the default command): gunicorn on 0.0.0.0:6400
#   worker: celery -A taskoverflow worker -l INFO
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEB_BIND=0.0.0.0:6400 \
    MEDIA_ROOT=/app/media \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# The wheels of requirements.txt need no compiler (psycopg[binary]).
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected into the image and served by WhiteNoise. The
# settings need a key and hosts with DEBUG off; these serve this step only.
RUN DEBUG=false SECRET_KEY=collectstatic-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz \
    ALLOWED_HOSTS=localhost CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput

# A user of its own; it owns only the folder calendars are written to (a volume
# in docker-compose.yml, which starts with this folder's owner).
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app app \
    && mkdir -p /app/media \
    && chown app:app /app/media
USER app

EXPOSE 6400
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "taskoverflow.healthcheck"]
ENTRYPOINT ["/app/taskoverflow/entrypoint.sh"]
CMD ["gunicorn", "-c", "python:taskoverflow.gunicorn_conf", "taskoverflow.wsgi"]
