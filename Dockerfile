# syntax=docker/dockerfile:1
# Build stage: Debian 12 with the -dev packages (the same list scripts/setup installs).
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libcaf-dev libboost1.81-dev libpqxx-dev prometheus-cpp-dev \
      nlohmann-json3-dev libspdlog-dev libfmt-dev libcurl4-openssl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
 && cmake --build /build -j2 --target clean-service \
 && strip --strip-debug /build/clean-service

# Runtime stage: only the shared libraries the binary links, run as a non-root user.
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcaf-core0.17 libpqxx-6.4 libpq5 libprometheus-cpp-core1.0 libspdlog1.10 libfmt9 libcurl4 \
      libssl3 curl ca-certificates postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin clean
COPY --from=build /build/clean-service /usr/local/bin/clean-service
# STORAGE_DIR and EMAIL_FILE_DIR default to var/... relative to the working
# directory: give the service one it may write (mount a volume here).
RUN mkdir -p /var/lib/clean-service && chown clean /var/lib/clean-service
WORKDIR /var/lib/clean-service
USER clean
ENV APP_ENV=production HOST=0.0.0.0 PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT:-8080}/healthz" >/dev/null || exit 1
# Exec form: SIGTERM from the container runtime reaches the service directly.
ENTRYPOINT ["/usr/local/bin/clean-service"]
CMD ["serve"]
