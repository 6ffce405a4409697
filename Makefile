.PHONY: demo test bench fuzz build

# Runs the whole deploy flow against the built-in sandbox.
demo:
	go run . demo

# Installs what the tests need (Debian packages, Go tools), starts a Docker
# engine and a registry, and runs go vet and every test with the race detector.
test:
	bash scripts/test.sh

# Runs the benchmarks against the peer tools and prints medians and ratios.
bench:
	bash scripts/bench.sh

# Runs every fuzz target of the repository (go test -fuzz), 10 minutes in
# all by default (FUZZ_TOTAL=30m for longer), and prints the total fuzzing
# time and the crashes found. make test runs the committed seed corpora.
fuzz:
	bash scripts/fuzz.sh

build:
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/oidc-ecs-deploy .
