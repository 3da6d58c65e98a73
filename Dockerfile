# The cardshop app image: gunicorn serving wsgi:app. docker-compose.yml runs it twice:
# once as the one-shot `migrate` service (flask db upgrade), then as `app`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CARDSHOP_BIND=0.0.0.0:8000 \
    CARDSHOP_INSTANCE_PATH=/app/instance

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY wsgi.py gunicorn.conf.py ./
COPY cardshop cardshop
COPY migrations migrations

RUN useradd --system --uid 10001 --home /app cardshop \
    && mkdir -p /app/instance \
    && chown cardshop /app/instance
USER cardshop

EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
