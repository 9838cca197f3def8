# order-engine: one image for `api`, `worker`, `migrate`, `localnet` and `serve`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && useradd --create-home engine && mkdir /chain && chown engine /chain
USER engine
EXPOSE 3000
ENV HOST=0.0.0.0 PORT=3000
CMD ["order-engine", "serve"]
