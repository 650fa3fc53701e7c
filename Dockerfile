# auditor: an immutable image for an immutable-infrastructure auditor.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY auditor ./auditor
COPY rules ./rules
COPY reports ./reports
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/auditor --create-home auditor
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
WORKDIR /var/lib/auditor
ENV PYTHONUNBUFFERED=1
EXPOSE 8080 9464
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/healthz').status == 200 else 1)"
ENTRYPOINT ["auditor"]
CMD ["run", "--config", "/etc/auditor/auditor.yaml"]
