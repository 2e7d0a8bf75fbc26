# Worker image for Google Dataflow: Beam's own Python 3.11 SDK image at the pinned Beam
# version, with clearcrawl and its dependencies installed. Build and push it, then run with
#   --sdk_container_image REGION-docker.pkg.dev/PROJECT/REPO/clearcrawl:0.1.0
# (see README, "Running on Google Dataflow").
ARG BEAM_VERSION=2.77.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION}

WORKDIR /opt/clearcrawl
COPY pyproject.toml README.md ./
COPY src ./src
# The bundled registry travels with the image, for runs that name it by path.
COPY optout_registry ./optout_registry
# Importing the pipeline and fingerprinting one text also compiles the Numba MinHash
# kernel into the image's cache, so workers do not compile it at start.
RUN pip install --no-cache-dir ".[gcp]" && python -c "import clearcrawl.beam.pipeline; \
from clearcrawl.core.minhash import MinHashParams, fingerprint; \
fingerprint('warm the compiled kernel cache', MinHashParams())"

# Keep the Beam SDK harness as the entry point: Dataflow starts it.
ENTRYPOINT ["/opt/apache/beam/boot"]
