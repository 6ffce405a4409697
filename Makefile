.PHONY: demo test lint bench fuzz mutate build

# Runs the whole deploy flow against the built-in sandbox.
demo:
	go run . demo

# Installs what the tests need (Debian packages, Go tools), starts a Docker
# engine and a registry, and runs go vet, golangci-lint and every test with
# the race detector.
test:
	bash scripts/test.sh

# Runs golangci-lint (.golangci.yml), installing the pinned version when missing.
lint:
	bash scripts/lint.sh

# Runs the benchmarks against the peer tools and prints medians and ratios.
bench:
	bash scripts/bench.sh

# Runs every fuzz target of the repository (go test -fuzz), 10 minutes in
# all by default (FUZZ_TOTAL=30m for longer), and prints the total fuzzing
# time and the crashes found. make test runs the committed seed corpora.
fuzz:
	bash scripts/fuzz.sh

# Mutation testing (go-gremlins/gremlins) of config, oidc, awsauth, ghaction,
# registry, deploy and the IAM policy evaluator (iamglob and the sandbox's
# evaluate.go), within a time budget
# (MUTATE_TOTAL=8h by default): efficacy and mutator coverage per package,
# and every mutant that lived. Not in CI: a full run takes hours.
mutate:
	bash scripts/mutate.sh

build:
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/oidc-ecs-deploy .
