# Two commands: `make up` runs the platform, `make test` runs every test. Both provision what
# they need first (Node 24, nats-server >= 2.10, npm packages) into .tools/ and node_modules/.
SHELL := /bin/bash
ROOT := $(abspath .)
NODE_BIN = $(shell cat $(ROOT)/.tools/node-bin-path 2>/dev/null)
RUN = PATH="$(NODE_BIN):$$PATH" OMNI_NATS_SERVER="$(ROOT)/.tools/nats/nats-server"
NODE_FLAGS = --no-warnings=ExperimentalWarning --stack-trace-limit=20

.PHONY: setup up test typecheck layers bench validate clean mesh-demo image

setup:
	@bash scripts/setup.sh

up: setup
	@$(RUN) node $(NODE_FLAGS) cmd/omni.ts up $(ARGS)

validate: setup
	@$(RUN) node $(NODE_FLAGS) cmd/omni.ts validate manifests

typecheck: setup
	@$(RUN) node node_modules/.bin/tsc -p tsconfig.json

# every import in src/ points at its own layer or a lower one (the order is in src/layers.ts)
layers: setup
	@$(RUN) node $(NODE_FLAGS) scripts/check-layers.ts

test: setup typecheck layers
	@$(RUN) bash scripts/test.sh

# the container plugin row needs a Docker engine: scripts/bench.sh starts a private one when
# none answers at $OMNI_DOCKER_SOCKET (or /var/run/docker.sock) and stops it after, even on failure
bench: setup
	@$(RUN) bash scripts/bench.sh node $(NODE_FLAGS) --stack-trace-limit=0 cmd/omni.ts bench $(ARGS)

# the platform's container image without a registry (docs/kubernetes.md): VARIANT=slim (no
# embedded ClickHouse, the default) or full; saved as dist/omni-fabric-<version>-<variant>.tar.
# scripts/with-docker.sh uses the engine at $OMNI_DOCKER_SOCKET, else starts a private one
VARIANT ?= slim
image: setup
	@$(RUN) bash scripts/with-docker.sh node $(NODE_FLAGS) cmd/omni.ts image build --variant "$(VARIANT)" $(ARGS)

# a hub and two leaves of cluster a on loopback ports: a cluster event crosses, a local one stays
# home (scripts/mesh-demo.sh stops everything it started, also on Ctrl-C)
mesh-demo: setup
	@$(RUN) bash scripts/mesh-demo.sh

clean:
	rm -rf coverage .tap bench/results
