# Backend image for docker-compose.yml (not built on the development machines: no Docker engine).
FROM node:20-bookworm-slim AS node
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts --omit=optional

FROM python:3.11-slim-bookworm
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=node /app/node_modules ./node_modules
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY evidence_store ./evidence_store
COPY contracts ./contracts
COPY scripts ./scripts
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["hubao", "serve"]
