#!/usr/bin/env bash
# Validates the Kubernetes manifests offline against the Kubernetes OpenAPI schemas, with the
# `kubernetes-validate` package from PyPI (it ships the JSON schemas of each Kubernetes
# release; no cluster and no network are needed once it is installed).
#
#   deploy/validate.sh                 # every manifest under deploy/k8s
#   deploy/validate.sh FILE|DIR ...    # only these (a DIR means its *.yaml / *.yml files)
#
# Each manifest is checked with --strict (unknown fields are errors, not ignored) against every
# version in KUBERNETES_VERSIONS. Exit status: 0 if all pass, 1 if any manifest is invalid,
# holds no object, names a kind/apiVersion with no schema, or is unreadable.
#
# Environment:
#   BERTQA_VALIDATE_VENV   virtual environment to use or create
#                          (default: ${TMPDIR:-/tmp}/bertqa-kubernetes-validate-<version>)
#   KUBERNETES_VERSIONS    space-separated Kubernetes versions (default: "1.31 1.37": the
#                          oldest release these manifests target, and the newest the pinned
#                          validator has schemas for)
#   PYTHON                 interpreter that creates the venv (default: python3)
#
# kustomization.yaml is read by kustomize on the client and is not an API object, so it has no
# schema of its own: it is checked for its kind and for the files it lists existing, and, when
# `kustomize` or `kubectl` is installed, rendered and the result validated like the files.
set -euo pipefail

KV_VERSION=1.37.0
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${BERTQA_VALIDATE_VENV:-${TMPDIR:-/tmp}/bertqa-kubernetes-validate-$KV_VERSION}
read -r -a k8s_versions <<< "${KUBERNETES_VERSIONS:-1.31 1.37}"
python=${PYTHON:-python3}

kv=$venv/bin/kubernetes-validate
if [ ! -x "$kv" ] || [ "$("$kv" --version 2>/dev/null)" != "$KV_VERSION" ]; then
  echo "validate: installing kubernetes-validate==$KV_VERSION into $venv" >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KV_VERSION"
fi
echo "validate: kubernetes-validate $("$kv" --version), --strict, Kubernetes ${k8s_versions[*]}"

# The manifests to check, and the kustomizations among the arguments.
[ "$#" -gt 0 ] || set -- "$here/k8s"
manifests=()
kustomizations=()
for arg in "$@"; do
  if [ -d "$arg" ]; then
    while IFS= read -r -d '' f; do
      case $(basename "$f") in
        kustomization.yaml | kustomization.yml | Kustomization) kustomizations+=("$f") ;;
        *) manifests+=("$f") ;;
      esac
    done < <(find "$arg" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 | sort -z)
  elif [ -f "$arg" ]; then
    case $(basename "$arg") in
      kustomization.yaml | kustomization.yml | Kustomization) kustomizations+=("$arg") ;;
      *) manifests+=("$arg") ;;
    esac
  else
    echo "validate: FAIL $arg: no such file or directory" >&2
    exit 1
  fi
done
if [ "${#manifests[@]}" -eq 0 ] && [ "${#kustomizations[@]}" -eq 0 ]; then
  echo "validate: FAIL no manifests found in: $*" >&2
  exit 1
fi

failed=0
k_args=()
for v in "${k8s_versions[@]}"; do k_args+=(-k "$v"); done

for f in "${manifests[@]}"; do
  # kubernetes-validate exits 0 with only a WARN line when it has no schema for an object's
  # kind/apiVersion (a typo such as `kind: Deploymnet`), and prints nothing at all for a file
  # with no objects; both count as failures here.
  set +e
  out=$("$kv" --strict "${k_args[@]}" "$f" 2>&1)
  rc=$?
  set -e
  [ -z "$out" ] || printf '%s\n' "$out"
  if [ "$rc" -ne 0 ]; then
    echo "validate: FAIL $f (kubernetes-validate exit status $rc)"
    failed=1
  elif grep -qE '^(WARN|ERROR|FATAL)' <<< "$out"; then
    echo "validate: FAIL $f (warnings are errors here)"
    failed=1
  elif ! grep -q '^INFO .* passed ' <<< "$out"; then
    echo "validate: FAIL $f (no Kubernetes object in it)"
    failed=1
  fi
done

# kustomization files: right kind, and every listed resource file exists. The venv's PyYAML
# (a kubernetes-validate dependency) parses them.
for k in "${kustomizations[@]}"; do
  if "$venv/bin/python" - "$k" <<'EOF'
import os, sys, yaml
path = sys.argv[1]
with open(path) as f:
    doc = yaml.safe_load(f)
errors = []
if not isinstance(doc, dict):
    errors.append("not a YAML mapping")
else:
    if doc.get("kind", "Kustomization") != "Kustomization":
        errors.append("kind is %r, not Kustomization" % doc.get("kind"))
    if not str(doc.get("apiVersion", "kustomize.config.k8s.io/")).startswith("kustomize.config.k8s.io/"):
        errors.append("apiVersion %r is not kustomize.config.k8s.io/*" % doc.get("apiVersion"))
    resources = doc.get("resources") or []
    if not isinstance(resources, list) or not resources:
        errors.append("resources is not a non-empty list")
    else:
        base = os.path.dirname(path)
        for r in resources:
            if "://" not in str(r) and not os.path.exists(os.path.join(base, str(r))):
                errors.append("resource %r does not exist" % r)
for e in errors:
    print("ERROR %s: %s" % (path, e))
if not errors:
    print("INFO %s: Kustomization lists %d existing resources" % (path, len(doc["resources"])))
sys.exit(1 if errors else 0)
EOF
  then :; else
    echo "validate: FAIL $k"
    failed=1
    continue
  fi
  # If kustomize is at hand (standalone, or built into kubectl), render the kustomization
  # offline and validate what `kubectl apply -k` would send, image rewrite included.
  if command -v kustomize > /dev/null; then
    render=(kustomize build)
  elif command -v kubectl > /dev/null; then
    render=(kubectl kustomize)
  else
    echo "validate: note: neither kustomize nor kubectl found; $k not rendered"
    continue
  fi
  rendered=$(mktemp "${TMPDIR:-/tmp}/bertqa-rendered.XXXXXX.yaml")
  if "${render[@]}" "$(dirname "$k")" > "$rendered"; then
    set +e
    out=$("$kv" --strict "${k_args[@]}" "$rendered" 2>&1)
    rc=$?
    set -e
    printf '%s
' "$out" | sed "s|$rendered|${render[*]} $(dirname "$k")|"
    if [ "$rc" -ne 0 ] || grep -qE '^(WARN|ERROR|FATAL)' <<< "$out"; then
      echo "validate: FAIL $k (rendered output)"
      failed=1
    fi
  else
    echo "validate: FAIL $k (${render[*]} failed)"
    failed=1
  fi
  rm -f "$rendered"
done

if [ "$failed" -ne 0 ]; then
  echo "validate: FAILED"
  exit 1
fi
echo "validate: all ${#manifests[@]} manifests and ${#kustomizations[@]} kustomization(s) passed"
