# syntax=docker/dockerfile:1
#
# The cutover image: the release binary on distroless, run as a non-root user.
#
#   docker build -t cutover:0.1.0 .
#   docker run --rm -v "$PWD:/work" --user "$(id -u):$(id -g)" cutover:0.1.0 check scenario.yaml
#
# The entrypoint is the binary, so `docker run IMAGE ARGS…` and a Kubernetes
# container's `args:` are cutover's own arguments; with none it prints --help.
# deploy/ has Kubernetes examples; tests/it/deploy.rs checks this file.

# Build on the toolchain the tests pass on (Cargo.toml's rust-version is the
# oldest that builds), on Debian 12 like the runtime below: the binary links
# glibc dynamically, and one built on a newer Debian could need symbols the
# runtime's glibc lacks.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target/ are cache mounts (BuildKit), kept between builds
# but not in any layer, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && install -D -m 0755 target/release/cutover /out/cutover

# Distroless cc: glibc, libgcc_s and the CA certificates at /etc/ssl/certs
# that rustls' platform verifier reads, and nothing else: no shell, no
# package manager. The binary needs no more (ldd: libc, libm, libgcc_s).
# Without a shell a scenario's `events: run:` commands cannot run in this
# image; mark deploys with `cutover mark` instead (deploy/README.md).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/cutover /usr/local/bin/cutover
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/cutover"]
CMD ["--help"]
