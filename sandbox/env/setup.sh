# Runs once inside `docker build` (as root, no network): venv, repository, base commit, seed.
set -euxo pipefail
B=/opt/dgm/build
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
# A fixed identity and date make the base commit a function of the files alone.
export GIT_AUTHOR_NAME=dgm GIT_AUTHOR_EMAIL=dgm@dgm.invalid GIT_COMMITTER_NAME=dgm \
       GIT_COMMITTER_EMAIL=dgm@dgm.invalid GIT_AUTHOR_DATE="2000-01-01T00:00:00+0000" \
       GIT_COMMITTER_DATE="2000-01-01T00:00:00+0000"
git init -q -b main
# A big tree's first commit would start a detached auto-gc racing the rest of this build
# (and the repository never needs one): off for every git command in it, here and in sandboxes.
git config gc.auto 0
git add -A
git commit -q --no-verify -m base
git rev-parse HEAD > /opt/dgm/base_commit

bash -euxo pipefail "$B/install.sh"

# Whatever the install produced is nobody's edit: keep it out of `git status` and diffs.
git status --porcelain --untracked-files=normal | sed -n 's/^?? //p' >> .git/info/exclude
printf '%s\n' '__pycache__/' '*.pyc' '.pytest_cache/' '*.egg-info/' >> .git/info/exclude
chown -R 1000:1000 /testbed
mkdir -p /opt/dgm/seed/testbed
cp -a /testbed/. /opt/dgm/seed/testbed/
rm -rf "$B/repo"
