# Sourced by test.sh: Arize Phoenix, the trace backend the end-to-end tracing test sends OTLP
# to, in a virtualenv of its own (its dependencies stay out of the package's); once per version.
PHOENIX_VERSION=20.26.1
if [ ! -f ".venvs/phoenix/.installed-$PHOENIX_VERSION" ]; then
  echo "installing arize-phoenix $PHOENIX_VERSION into .venvs/phoenix (first run: about a minute) ..." >&2
  rm -rf .venvs/phoenix
  python3 -m venv .venvs/phoenix
  .venvs/phoenix/bin/python -m pip install --quiet --upgrade pip
  .venvs/phoenix/bin/python -m pip install --quiet "arize-phoenix==$PHOENIX_VERSION"
  touch ".venvs/phoenix/.installed-$PHOENIX_VERSION"
fi
