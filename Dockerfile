# syntax=docker/dockerfile:1
# Loupe's production image. One image, four roles (see compose.yaml): gunicorn
# web (the default CMD, scripts/web.sh), the Celery worker (scripts/worker.sh), beat
# (scripts/beat.sh), the one-shot migration and the provider emulator.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with Loupe's runtime dependencies (no dev extras) ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies first, read from pyproject.toml, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install --upgrade pip \
 && pip install -r /tmp/requirements.txt

# Then the project itself, editable: the code runs from /app, where settings.py
# finds templates/ and static/ beside it (BASE_DIR), not from site-packages.
COPY webapp ./webapp
RUN pip install --no-deps --editable .

# --- runtime ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# WHITENOISE_USE_FINDERS=false: collectstatic runs below, so whitenoise serves
# var/staticfiles only. WEB_CONCURRENCY is gunicorn's worker count; override per host.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=webapp.settings \
    WHITENOISE_USE_FINDERS=false \
    MEDIA_ROOT=/data/media \
    WEB_CONCURRENCY=3

RUN groupadd --system --gid 10001 loupe \
 && useradd --system --uid 10001 --gid loupe --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin loupe

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .

# The code stays root-owned and read-only to the app. The app writes only to var/
# (static files; also the SQLite file, disk broker and generated secret key if
# DATABASE_URL, CELERY_BROKER_URL or SECRET_KEY are unset) and to /data/media
# (thumbnails). A named volume mounted on /data/media starts with this ownership.
RUN python -m compileall -q webapp \
 && mkdir -p var /data/media \
 && chown loupe:loupe var /data/media

USER loupe

# A throwaway key: settings.py would otherwise write var/secret_key into the image.
# The real SECRET_KEY comes from the environment at run time.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000

# Ask for the OpenAPI document (no database, no sign-in needed) with a Host that
# ALLOWED_HOSTS accepts, so the check does not log DisallowedHost errors.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import http.client, os; h = (os.environ.get('ALLOWED_HOSTS') or 'localhost').split(',')[0].strip().lstrip('.'); h = 'localhost' if h in ('', '*') else h; c = http.client.HTTPConnection('127.0.0.1', 8000, timeout=4); c.request('GET', '/api/v1/openapi.json', headers={'Host': h}); raise SystemExit(c.getresponse().status != 200)"

# The web server: gunicorn supervising uvicorn (ASGI) workers, exactly as `make web`
# runs it (scripts/web.sh holds the flags; WEB_CONCURRENCY is the worker count).
CMD ["./scripts/web.sh"]
