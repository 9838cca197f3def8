# order-engine: one image for `api`, `worker`, `migrate`, `localnet` and `serve`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# /data: `serve`'s SQLite database, wallet and chain journal (the non-root user owns it;
# mount a volume there to keep them); /chain: the localnet's data in docker-compose.yml
RUN pip install . && useradd --create-home engine \
    && mkdir /chain /data && chown engine /chain /data
USER engine
EXPOSE 3000
ENV HOST=0.0.0.0 PORT=3000 DATA_DIR=/data
CMD ["order-engine", "serve"]
