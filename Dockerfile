# mockidp: a MOCK OAuth 2.0 / OpenID Connect provider for tests.  It accepts any client and
# user by default: never use it to protect anything real.
#
#   docker build -t mockidp .
#   docker run --rm -p 127.0.0.1:8080:8080 -e MOCKIDP_PUBLIC_URL=http://localhost:8080 mockidp
#
# Configure it with a mounted config file and MOCKIDP_* variables (every `mockidp serve` option
# has one): MOCKIDP_CONFIG=/config/mockidp.toml (mount the file there), MOCKIDP_PUBLIC_URL,
# MOCKIDP_CONTROL_TOKEN, MOCKIDP_ALLOWED_HOSTS=mockidp (the Host names, besides localhost and
# the public URL's, on which the control API answers without a token: the service name other
# containers use), MOCKIDP_INTERACTIVE_LOGIN=false, MOCKIDP_TLS=true, ...  Signing keys
# (and the self-signed certificate of MOCKIDP_TLS=true) live in the /keys volume: mount a named
# volume or a folder there and tokens stay valid across restarts.  See docs/docker.md and
# examples/compose/.
#
# The health check reads the default issuer's discovery document, which is always served, also
# with MOCKIDP_CONTROL=false (the control API's /_mockidp/health is not).
# Nothing here is tied to one CPU architecture: the base image and every wheel exist for amd64
# and arm64.

FROM python:3.12.8-slim-bookworm

LABEL org.opencontainers.image.title="mockidp" \
      org.opencontainers.image.description="A mock OAuth 2.0 / OpenID Connect identity provider for tests" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MOCKIDP_KEYS_DIR=/keys \
    MOCKIDP_LOG_LEVEL=info

# Only pyproject.toml, README.md and the package are sent (see .dockerignore).  The
# "server" extra adds granian, the faster HTTP server `mockidp serve` picks when present; the
# "redis" extra adds redis-py, for replicas sharing one store (MOCKIDP_STORE, examples/replicas).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mockidp ./mockidp
RUN pip install --no-cache-dir .[server,redis] \
    && cd / && rm -rf /src \
    && groupadd --system --gid 10001 mockidp \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin mockidp \
    && mkdir -p /keys && chown 10001:10001 /keys

WORKDIR /
USER 10001:10001
VOLUME ["/keys"]
EXPOSE 8080

# `docker stop` sends SIGINT: mockidp (PID 1) stops serving at once and exits 0.
STOPSIGNAL SIGINT
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request as u; tls = os.environ.get('MOCKIDP_TLS', '').lower() in ('1', 'true', 't', 'yes', 'y', 'on') or bool(os.environ.get('MOCKIDP_TLS_CERT')); u.urlopen(('https' if tls else 'http') + '://127.0.0.1:8080/default/.well-known/openid-configuration', timeout=4, context=ssl._create_unverified_context())"]

# `docker run IMAGE mint --sub alice` runs another mockidp command.
ENTRYPOINT ["mockidp"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
