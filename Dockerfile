# One image for every process of the platform: web, dispatchers, scheduler, OCPP service.
# The process is chosen by the command (see compose.yaml and Procfile).
FROM python:3.11-slim-bookworm

# SpatiaLite only matters for the embedded default; production runs on PostgreSQL/PostGIS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsqlite3-mod-spatialite \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.txt
COPY . .
RUN useradd --create-home --uid 10001 platform
USER platform

ENV FLASK_APP=wsgi HOST=0.0.0.0 PORT=8000 OCPP_PORT=9000 PYTHONUNBUFFERED=1
EXPOSE 8000 9000
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
