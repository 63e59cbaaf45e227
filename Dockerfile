# Multi-stage build of every binary in the workspace.
#   docker build --target api -t ticketing-api .   (likewise booking, indexer, ticketctl)
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && cp target/release/api target/release/booking target/release/indexer target/release/ticketctl /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 ticketing
USER ticketing
ENV APP_ENV=production LOG_FORMAT=json BIND_HOST=0.0.0.0
COPY --from=build /out/ticketctl /usr/local/bin/ticketctl

FROM runtime AS api
COPY --from=build /out/api /usr/local/bin/api
EXPOSE 8080
CMD ["api"]

FROM runtime AS booking
COPY --from=build /out/booking /usr/local/bin/booking
EXPOSE 8081
CMD ["booking"]

FROM runtime AS indexer
COPY --from=build /out/indexer /usr/local/bin/indexer
EXPOSE 8082
CMD ["indexer"]

FROM runtime AS ticketctl
CMD ["ticketctl", "--help"]
