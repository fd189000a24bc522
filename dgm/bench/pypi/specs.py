"""Per-repository environment specs: Python suite, pinned dependencies, install and test commands.

The pins follow SWE-bench's own per-version specifications (swebench 4.x `MAP_REPO_VERSION_TO_SPECS`,
no longer shipped in 5.x), adjusted where today's newest packages break an old release.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dgm.errors import BenchError

VENV = "/opt/dgm/venv"
PY = f"{VENV}/bin/python"

# Projects whose test suites need C extensions built from source: their images get a compiler
# (Debian's build-essential, installed into the base image's root filesystem, never on the host)
# where a spec says how to build them; other versions are refused.
NEEDS_COMPILER = {"astropy/astropy", "matplotlib/matplotlib", "scikit-learn/scikit-learn"}
COMPILER = ["build-essential", "python3-dev"]  # gcc, make, and Python.h

PYTEST_RA = f"{PY} -m pytest --no-header -rA --tb=no -p no:cacheprovider"
PYTEST_RA_OLD = f"{PY} -m pytest -rA"  # pytest < 6 has no --no-header


@dataclass
class RepoSpec:
    """How one repository at one task version is installed and tested."""

    suite: str                       # Debian suite of the base image (its python3)
    pins: list[str]                  # constraints: versions to use when a package is needed
    extra: list[str]                 # packages the tests need beyond the project's own deps
    test_runner: str                 # command prefix; test directives are appended
    log_parser: str                  # swebench per-repo parser key
    env: dict[str, str] = field(default_factory=dict)
    build_env: dict[str, str] = field(default_factory=dict)  # only for the install command
    # Requirement files in the source whose packages the tests need (the spec's pins win).
    requirement_files: list[str] = field(default_factory=list)
    # Debian packages the image needs beyond the base (a compiler, libraries to build against).
    debian_packages: list[str] = field(default_factory=list)
    # Shell commands run in /testbed just before and just after the install.
    pre_install: list[str] = field(default_factory=list)
    post_install: list[str] = field(default_factory=list)


def _vtuple(version: str) -> tuple[int, ...]:
    out = []
    for part in version.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


UTF8 = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf8"}

_PYTEST_PINS = {
    "4.4": ["atomicwrites==1.4.1", "attrs==23.1.0", "more-itertools==10.1.0", "pluggy==0.13.1",
            "py==1.11.0", "six==1.16.0"],
    "4.5": ["atomicwrites==1.4.1", "attrs==23.1.0", "more-itertools==10.1.0", "pluggy==0.11.0",
            "py==1.11.0", "six==1.16.0", "wcwidth==0.2.6"],
    "4.6": ["atomicwrites==1.4.1", "attrs==23.1.0", "more-itertools==10.1.0", "packaging==23.1",
            "pluggy==0.13.1", "py==1.11.0", "six==1.16.0", "wcwidth==0.2.6"],
    "5": ["atomicwrites==1.4.1", "attrs==23.1.0", "more-itertools==10.1.0", "packaging==23.1",
          "pluggy==0.13.1", "py==1.11.0", "wcwidth==0.2.6"],
    "6": ["attrs==23.1.0", "iniconfig==2.0.0", "more-itertools==10.1.0", "packaging==23.1",
          "pluggy==0.13.1", "py==1.11.0", "toml==0.10.2"],
    "7.0": ["attrs==23.1.0", "iniconfig==2.0.0", "packaging==23.1", "pluggy==1.0.0", "py==1.11.0",
            "tomli==2.0.1"],
    "7": ["attrs==23.1.0", "iniconfig==2.0.0", "packaging==23.1", "pluggy==1.3.0",
          "exceptiongroup==1.1.3", "tomli==2.0.1"],
    "8": ["iniconfig==2.0.0", "packaging==23.1", "pluggy==1.3.0", "exceptiongroup==1.1.3",
          "tomli==2.0.1"],
}

_SEABORN_PINS = ["contourpy==1.1.0", "cycler==0.11.0", "fonttools==4.42.1",
                 "importlib-resources==6.0.1", "kiwisolver==1.4.5", "matplotlib==3.7.2",
                 "numpy==1.25.2", "packaging==23.1", "pandas==2.0.0", "pillow==10.0.0",
                 "pyparsing==3.0.9", "python-dateutil==2.8.2", "pytz==2023.3.post1",
                 "scipy==1.11.2", "six==1.16.0", "tzdata==2023.1", "zipp==3.16.2",
                 "pytest==7.4.4"]

# Sphinx 3.x/4.x predate Jinja2 3 and the split-out sphinxcontrib packages' own Sphinx pins.
_SPHINX_OLD_PINS = ["Jinja2==2.11.3", "MarkupSafe==2.0.1", "sphinxcontrib-applehelp==1.0.4",
                    "sphinxcontrib-devhelp==1.0.2", "sphinxcontrib-qthelp==1.0.3",
                    "sphinxcontrib-htmlhelp==2.0.1", "sphinxcontrib-serializinghtml==1.1.5",
                    "sphinxcontrib-jsmath==1.0.1", "alabaster==0.7.11", "docutils==0.17.1",
                    "Pygments==2.15.1", "pytest==7.4.4", "babel==2.12.1", "snowballstemmer==2.2.0",
                    "imagesize==1.4.1", "requests==2.31.0", "packaging==23.1"]
_SPHINX_NEW_PINS = ["Jinja2==3.0.3", "MarkupSafe==2.1.3", "pytest==7.4.4", "docutils==0.20.1"]

# SWE-bench's astropy 5.0-5.2 environment (Python 3.9; setuptools 68: 69 breaks the 5.x build).
_ASTROPY_5_PINS = ["attrs==23.1.0", "exceptiongroup==1.1.3", "execnet==2.0.2", "hypothesis==6.82.6",
                   "iniconfig==2.0.0", "numpy==1.25.2", "packaging==23.1", "pluggy==1.3.0",
                   "psutil==5.9.5", "pyerfa==2.0.0.3", "pytest-arraydiff==0.5.0",
                   "pytest-astropy-header==0.2.2", "pytest-astropy==0.10.0", "pytest-cov==4.1.0",
                   "pytest-doctestplus==1.0.0", "pytest-filter-subpackage==0.1.2",
                   "pytest-mock==3.11.1", "pytest-openfiles==0.5.0", "pytest-remotedata==0.4.0",
                   "pytest-xdist==3.3.1", "pytest==7.4.0", "PyYAML==6.0.1", "setuptools==68.0.0",
                   "sortedcontainers==2.4.0", "tomli==2.0.1", "cython==0.29.34"]


# SWE-bench's matplotlib 3.5-3.9 environment (Python 3.11), less what only its conda file adds;
# certifi because 3.6's setup.py asks for it in setup_requires (it has no pyproject.toml), pandas
# (in that conda file) because tests that need it are skipped without it, and a skipped
# PASS_TO_PASS test counts as failed; pytest 8 names duplicate parameter ids `100-100_0` as the
# dataset does (pytest 7: `100-1000`).
_MATPLOTLIB_PINS = ["certifi==2023.7.22", "contourpy==1.1.0", "cycler==0.11.0", "fonttools==4.42.1",
                    "kiwisolver==1.4.5", "numpy==1.25.2", "packaging==23.1", "pandas==2.0.3",
                    "pillow==10.0.0", "pyparsing==3.0.9", "python-dateutil==2.8.2", "six==1.16.0",
                    "setuptools==68.1.2", "setuptools-scm==7.1.0", "typing-extensions==4.7.1",
                    "pytest==8.0.0"]
# The image has no network: matplotlib's setup would download FreeType and Qhull sources, so it
# builds against Debian's. Ghostscript turns the PDF/EPS image comparisons into real tests.
_MATPLOTLIB_DEBIAN = [*COMPILER, "pkg-config", "libfreetype-dev", "libqhull-dev", "ghostscript"]
# Each built here and its Lite rows validated or failed for a stated reason (docs/rebuild.md);
# 3.5.3 was not tried.
MATPLOTLIB_RELEASES = {"3.6.0", "3.6.1", "3.6.2", "3.7.0", "3.7.1", "3.7.2", "3.8.0"}
MPLSETUPCFG = "/opt/dgm/build/mplsetup.cfg"
# The test images were drawn with FreeType 2.6.1, which text renders differently from Debian's
# 2.12: the release's own wheel (installed first, then replaced by the editable install) has its
# ft2font extension linked against 2.6.1, compiled from this same source (no Lite row's patches
# touch src/), so the build keeps that one.
_FT2FONT = "ft2font.cpython-311-x86_64-linux-gnu.so"
_MATPLOTLIB_PRE = [f"printf '[libs]\\nsystem_freetype = True\\nsystem_qhull = True\\n' > {MPLSETUPCFG}",
                   f"cp {VENV}/lib/python3.11/site-packages/matplotlib/{_FT2FONT} /opt/dgm/build/"]
_MATPLOTLIB_POST = [f"cp /opt/dgm/build/{_FT2FONT} lib/matplotlib/{_FT2FONT}"]


def _matplotlib(release: str) -> RepoSpec:
    """matplotlib built from source in the image against Debian's FreeType and Qhull, with the
    release wheel's ft2font. Its `__version__` asks setuptools_scm when it finds a git checkout:
    the release says which, in the build and in the tests."""
    return RepoSpec("bookworm", _MATPLOTLIB_PINS, [p.split("==")[0] for p in _MATPLOTLIB_PINS],
                    PYTEST_RA, "matplotlib/matplotlib", env={"SETUPTOOLS_SCM_PRETEND_VERSION": release},
                    build_env={"MPLSETUPCFG": MPLSETUPCFG}, debian_packages=_MATPLOTLIB_DEBIAN,
                    pre_install=list(_MATPLOTLIB_PRE), post_install=list(_MATPLOTLIB_POST))


def spec_for(repo: str, version: str, release: str) -> RepoSpec:
    """The spec for `repo` at task `version` rebuilt from `release`; BenchError if unsupported."""
    v = _vtuple(version)
    if repo == "astropy/astropy" and (5, 0) <= v < (5, 3):
        return RepoSpec("bullseye", _ASTROPY_5_PINS, [p.split("==")[0] for p in _ASTROPY_5_PINS],
                        PYTEST_RA, "astropy/astropy", build_env={"SETUPTOOLS_SCM_PRETEND_VERSION": release},
                        debian_packages=COMPILER)
    if repo == "matplotlib/matplotlib" and release in MATPLOTLIB_RELEASES:
        return _matplotlib(release)
    if repo in NEEDS_COMPILER:
        raise BenchError(f"{repo} {version}: needs a compiler in the image (C extensions are built from "
                         "source) and no spec for this version says how to build it")
    if repo == "pallets/flask":
        return RepoSpec("bookworm", ["setuptools==70.0.0", "click==8.1.3", "itsdangerous==2.1.2",
                                     "Jinja2==3.1.2", "MarkupSafe==2.1.3", "Werkzeug==2.3.7",
                                     "pytest==7.4.4"],
                        ["pytest"], PYTEST_RA, "pallets/flask",
                        requirement_files=["requirements/tests.txt"])
    if repo == "pytest-dev/pytest":
        key = version if version in _PYTEST_PINS else (
            "7.0" if version == "7.0" else version.split(".")[0])
        pins = _PYTEST_PINS.get(key) or _PYTEST_PINS["8"]
        runner = PYTEST_RA_OLD if v < (6,) else f"{PY} -m pytest -rA"
        return RepoSpec("bullseye", pins + ["setuptools==68.0.0"], [], runner, "pytest-dev/pytest",
                        build_env={"SETUPTOOLS_SCM_PRETEND_VERSION": release})
    if repo == "sympy/sympy":
        return RepoSpec("bullseye", ["mpmath==1.3.0"], ["mpmath"], "", "sympy/sympy",
                        env={"SYMPY_USE_CACHE": "no",
                             "PYTHONWARNINGS": "ignore::UserWarning,ignore::SyntaxWarning"})
    if repo == "django/django":
        # SWE-bench installs tests/requirements/py3.txt; tests that need these are skipped
        # without them, and a skipped PASS_TO_PASS test counts as failed.
        return RepoSpec("bullseye", ["asgiref==3.7.2", "sqlparse==0.4.4", "pytz==2023.3"],
                        ["Jinja2", "PyYAML", "Pillow", "numpy", "argon2-cffi", "bcrypt", "tblib"],
                        f"{PY} ./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1",
                        "django/django", env=dict(UTF8))
    if repo == "mwaskom/seaborn":
        return RepoSpec("bullseye", _SEABORN_PINS, ["pytest", "scipy"],
                        f"{PY} -m pytest --no-header -rA", "mwaskom/seaborn")
    if repo == "sphinx-doc/sphinx":
        old = v < (5,)
        pins = _SPHINX_OLD_PINS if old else _SPHINX_NEW_PINS
        if (5,) <= v < (7,):  # Sphinx 5 and 6 require docutils < 0.20
            pins = [p for p in pins if not p.startswith("docutils")] + ["docutils==0.18.1"]
        return RepoSpec("bullseye", pins,
                        ["pytest", "html5lib", "filelock"] + (["typed_ast"] if v < (3, 0) else []),
                        f"{PY} -m pytest -rA", "sphinx-doc/sphinx", env=dict(UTF8))
    if repo == "psf/requests":
        return RepoSpec("bullseye", ["pytest==7.4.4"], ["pytest"], PYTEST_RA_OLD, "psf/requests")
    if repo == "pydata/xarray":
        return RepoSpec("bullseye", ["numpy==1.23.5", "packaging==23.1", "pandas==1.5.3",
                                     "pytest==7.4.0", "python-dateutil==2.8.2", "pytz==2023.3",
                                     "six==1.16.0", "scipy==1.11.1", "setuptools==68.0.0"],
                        ["pytest", "scipy"], PYTEST_RA, "pydata/xarray")
    if repo == "pylint-dev/pylint":
        return RepoSpec("bullseye", ["pytest==7.4.4"], ["pytest"], PYTEST_RA, "pylint-dev/pylint")
    raise BenchError(f"{repo}: no environment spec for this repository")


def sympy_test_command(files: list[str]) -> str:
    """SWE-bench runs `bin/test -C --verbose FILES`; sdists lack bin/test, so call sympy.test alike."""
    args = ", ".join(repr(f) for f in files)
    return f"{PY} -c \"import sys, sympy; sys.exit(not sympy.test({args}, verbose=True))\""
