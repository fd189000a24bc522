# An instance's before state on its release environment, run once in a container of it (as root,
# no network) that is then committed as one layer (dgm.sandbox.images.ensure_layer): only the
# files that differ from the release are written here, and the build files are gone by the commit.
set -euxo pipefail
B=/opt/dgm/build
SEED=/opt/dgm/seed/testbed
cd "$SEED"
if [ -s "$B/deleted.txt" ]; then tr '\n' '\0' < "$B/deleted.txt" | xargs -0 -r rm -rf --; fi
if [ -s "$B/changed.txt" ]; then
  cp -a "$B/changed/." "$SEED/"
  # A fresh mtime: git must not take a changed file of the same size for the release's.
  tr '\n' '\0' < "$B/changed.txt" | xargs -0 -r touch --
  tr '\n' '\0' < "$B/changed.txt" | xargs -0 -r chown 1000:1000 --
  tr '\n' '\0' < "$B/executables.txt" | xargs -0 -r chmod +x --
  # New directories among the changed files belong to the agent's user too.
  find "$SEED" -user 0 -type d -exec chown 1000:1000 {} +
fi
# Bytecode an install compiled from the release's files (Django's setup.py imports django.utils)
# holds the release's versions of them, the fix among them: none of it stays. (Git ignores it, so
# nothing below would notice it.)
find "$SEED" -path "$SEED/.git" -prune -o -name '*.pyc' -type f -print0 | xargs -0 -r rm -f --
# Metadata the install wrote from the release's files: a long description can be the release's
# changelog (old requests' setup.py appends HISTORY.rst), the fix's entry among it. The headers
# (name, version, requirements, entry points) stay; the description goes.
python3 - "$SEED" /opt/dgm/venv <<'PY'
import json, pathlib, re, sys
seed, venv = map(pathlib.Path, sys.argv[1:3])
files = [p for p in seed.rglob("PKG-INFO") if ".git" not in p.relative_to(seed).parts and p.parent.suffix == ".egg-info"]
for info in venv.glob("lib/python*/site-packages/*.dist-info"):  # editable installs (PEP 660)
    try:
        editable = json.loads((info / "direct_url.json").read_text()).get("dir_info", {}).get("editable")
    except (OSError, ValueError):
        editable = False
    if editable:
        files.append(info / "METADATA")
for path in files:
    text = path.read_text(encoding="utf-8", errors="replace")
    head = text.split("\n\n", 1)[0]
    head = re.sub(r"^Description: .*(?:\n(?: {8}|       \|).*)*\n?", "", head + "\n", flags=re.M).rstrip("\n")
    if head + "\n" != text:
        path.write_text(head + "\n", encoding="utf-8")
PY
# A fixed identity and date make the base commit a function of the files alone.
export GIT_AUTHOR_NAME=dgm GIT_AUTHOR_EMAIL=dgm@dgm.invalid GIT_COMMITTER_NAME=dgm \
       GIT_COMMITTER_EMAIL=dgm@dgm.invalid GIT_AUTHOR_DATE="2000-01-01T00:00:00+0000" \
       GIT_COMMITTER_DATE="2000-01-01T00:00:00+0000"
# Unchanged files were staged in the layer below; inode, owner and ctime differ across layers,
# so compare by size and mtime only (changed files were touched), or git re-reads every file.
STAT=(-c core.checkStat=minimal -c core.trustctime=false)
git "${STAT[@]}" add -A
git "${STAT[@]}" commit -q --no-verify -m base
git rev-parse HEAD > /opt/dgm/base_commit
# The release's versions of the changed files would still be objects in the repository: the
# fix, readable with `git cat-file`. Only what the base commit reaches stays.
git prune --expire=now
find "$SEED/.git" -user 0 -exec chown 1000:1000 {} +
rm -rf "$B"
