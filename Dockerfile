# Multi-stage build of a slim Peregrine runtime image.
#
#   docker build -t peregrine .
#   docker run --rm -v "$PWD/config/default.toml:/etc/peregrine/peregrine.toml:ro" \
#              -v "$PWD/data:/app/data" peregrine
#
# The default command runs `peregrine run` with the mounted config. Strategy paths in the
# config are relative to /app, where the shipped strategies/ are copied.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin peregrine

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app peregrine
WORKDIR /app
COPY --from=build /src/target/release/peregrine /usr/local/bin/peregrine
COPY strategies ./strategies
COPY config ./config
RUN mkdir -p /app/data && chown peregrine /app/data
USER peregrine
VOLUME ["/app/data"]
ENTRYPOINT ["peregrine"]
CMD ["run", "--config", "/etc/peregrine/peregrine.toml"]
