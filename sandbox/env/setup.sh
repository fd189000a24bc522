# The release environment, run once inside `docker build` (as root, no network): the venv, the
# release's tree installed at /testbed and staged in git, then moved to the seed. No commit: an
# instance layer on top (instance.sh) brings the task's own files and makes the base commit.
set -euxo pipefail
B=/opt/dgm/build
SEED=/opt/dgm/seed/testbed
PIP=(/opt/dgm/venv/bin/python -m pip install --disable-pip-version-check --no-index --find-links "$B/wheels")

python3 -m venv /opt/dgm/venv
mkdir -p "$B/wheels"
# Old Pythons ship an old pip; a newer one among the wheels reads newer wheel tags.
if ls "$B"/wheels/pip-*.whl >/dev/null 2>&1; then "${PIP[@]}" --upgrade pip; fi
if [ -s "$B/requirements.txt" ]; then "${PIP[@]}" -r "$B/requirements.txt"; fi

cp -a "$B/repo/." /testbed/
cd /testbed
# The build context carries no file modes; restore the executable bits the source had.
tr '\n' '\0' < "$B/executables.txt" | xargs -0 -r chmod +x
git init -q -b main
# A big tree's first commit would start a detached auto-gc racing the rest of this build
# (and the repository never needs one): off for every git command in it, here and in sandboxes.
git config gc.auto 0
# Staged, not committed: the blobs are shared by every instance of the release; the instance
# layer commits its own tree and prunes the blobs only the release has.
git add -A
# The trees too (Django has ~3,000 directories): an instance then writes only the trees on the
# paths it changes. Nothing references them; what the instance's commit does not reach is pruned.
git write-tree > /dev/null

bash -euxo pipefail "$B/install.sh"

# Whatever the install produced is nobody's edit: keep it out of `git status` and diffs.
git status --porcelain --untracked-files=normal | sed -n 's/^?? //p' >> .git/info/exclude
printf '%s\n' '__pycache__/' '*.pyc' '.pytest_cache/' '*.egg-info/' >> .git/info/exclude
chown -R 1000:1000 /testbed
# Moved, not copied: sandboxes get a fresh tmpfs /testbed filled from the seed; the image's own
# /testbed stays empty. (Moving the children keeps this a rename inside this layer.)
mkdir -p "$SEED"
find /testbed -mindepth 1 -maxdepth 1 -exec mv -t "$SEED" {} +
chown 1000:1000 "$SEED"
rm -rf "$B/repo"
