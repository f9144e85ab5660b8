"""`netvigil grafana install`: put the Grafana provisioning files and dashboards in place.

Grafana reads provisioning files from one directory (`/etc/grafana/provisioning` in the Debian
and RPM packages) and dashboards from wherever a dashboard provider points. This command
copies the repository's `grafana/` folder there, with the datasource's URL and database taken
from the options or from netvigil's own `outputs` settings, and the provider pointed at the
directory the dashboards went to. It never needs a Grafana binary (none can be installed on
the test machines), and it is safe to run again after an upgrade: an existing datasource file
keeps its user and secrets (password or token), which were written by hand.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from monitor.cli.common import Refused, run
from monitor.i18n import N_, _
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME

#: The source checkout's grafana/ folder (next to the monitor package).
SOURCE_DIR = Path(__file__).resolve().parent.parent.parent / "grafana"
DEFAULT_DASHBOARDS_DIR = Path("/var/lib/grafana/dashboards/netvigil")
DATASOURCE_FILE = Path("datasources/netvigil.yaml")
PROVIDER_FILE = Path("dashboards/netvigil.yaml")
#: The dashboards' languages: grafana/dashboards/<language>/, one provider each.
LANGUAGES = ("en", "zh-CN")
TOKEN_PLACEHOLDER = "Token change-me"

#: What the command says (translated where it is printed).
TEXTS = {
    "unreadable": N_("{path}: cannot read it ({error})"),
    "not_provisioning": N_("{path}: not a Grafana provisioning file"),
    "no_source": N_("{path}: no Grafana files there (provisioning/, dashboards/); give the repository's grafana/ "
                    "folder with --from"),
    "no_dir": N_("{path}: no such directory (Grafana's provisioning directory, e.g. /etc/grafana/provisioning)"),
    "bad_url": N_("--datasource-url {url}: an http:// or https:// URL is expected"),
    "bad_provider": N_("{path}: provider path {provider} is not under {root}"),
    "cannot_write": N_("cannot write the Grafana files: {error}"),
    "datasource": N_("{path}: datasource {uid}, {url}, database {database}"),
    "providers": N_("{path}: dashboards from {directory}"),
    "dashboards": N_("{directory}: {count} dashboards ({languages})"),
    "next_credentials": N_("next: set the InfluxDB user and password (or a 2.x token) in {path}, then restart "
                           "grafana-server"),
    "next_restart": N_("next: restart grafana-server"),
}


def add_grafana_parser(sub) -> None:
    grafana = sub.add_parser("grafana", help="Grafana provisioning files and dashboards")
    grafana_sub = grafana.add_subparsers(dest="grafana_command", metavar="COMMAND", required=True)
    install = grafana_sub.add_parser(
        "install", help="copy the datasource, the dashboard provider and the dashboards where Grafana reads them")
    install.add_argument("--dir", type=Path, required=True,
                         help="Grafana's provisioning directory, e.g. /etc/grafana/provisioning")
    install.add_argument("--dashboards-dir", type=Path, default=DEFAULT_DASHBOARDS_DIR,
                         help=f"where the dashboard JSON files go (default: {DEFAULT_DASHBOARDS_DIR})")
    install.add_argument("--datasource-url", help="the InfluxDB URL Grafana queries (default: from the settings' "
                                                  "outputs, else the file's)")
    install.add_argument("--database", help="the InfluxQL database (InfluxDB 2.x: the DBRP mapping's database)")
    install.add_argument("--influxdb", choices=("1", "2"),
                         help="1: user and password; 2: a token in the Authorization header (default: from the "
                              "settings' outputs, else 1)")
    install.add_argument("--language", choices=("both", *LANGUAGES), default="both",
                         help="which dashboards: English, Chinese or both, each in a Grafana folder of its own "
                              "(default: both)")
    install.add_argument("--from", dest="source", type=Path, default=SOURCE_DIR,
                         help="the grafana/ folder to install from (default: the one of this source tree)")
    install.add_argument("-c", "--config", type=Path, default=None,
                         help="netvigil settings file whose outputs give URL and database (optional)")
    install.set_defaults(command_key="grafana install")


def install_command(args) -> int:
    return run(_install, args)


def _from_settings(path: Optional[Path]) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """URL, database and InfluxDB major version of the settings' first InfluxDB output."""
    if path is None:
        return None, None, None
    from monitor.cli.common import load_config

    outputs = load_config(path).settings.outputs
    v1 = getattr(outputs, "influxdb_v1", None)
    if v1 is not None:
        return v1.url, v1.database, "1"
    v2 = getattr(outputs, "influxdb", None)
    if v2 is not None:  # 2.x: InfluxQL through a DBRP mapping whose database is named after the bucket
        return v2.url, v2.bucket, "2"
    return None, None, None


def _load_yaml(path: Path) -> dict:
    import yaml  # on use: every command's parser imports this module

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise Refused(_(TEXTS["unreadable"]).format(path=path, error=exc), EXIT_RUNTIME) from None
    if not isinstance(data, dict):
        raise Refused(_(TEXTS["not_provisioning"]).format(path=path), EXIT_RUNTIME)
    return data


def _datasource(source: Path, target: Path, url: Optional[str], database: Optional[str],
                version: Optional[str]) -> dict:
    shipped = _load_yaml(source)
    [entry] = shipped["datasources"]
    if version == "2":
        # The v1-compatible query API of 2.x takes a token, not a user and password.
        entry.pop("user", None)
        entry["jsonData"]["httpHeaderName1"] = "Authorization"
        entry["secureJsonData"] = {"httpHeaderValue1": TOKEN_PLACEHOLDER}
    if target.exists():
        # Keep what was written by hand: the user and the secrets.
        existing = next((d for d in _load_yaml(target).get("datasources") or []
                         if isinstance(d, dict) and d.get("uid") == entry["uid"]), None)
        if existing is not None:
            for key in ("user", "secureJsonData", "url"):
                if key in existing:
                    entry[key] = existing[key]
            for key in ("dbName", "httpHeaderName1"):
                if key in (existing.get("jsonData") or {}):
                    entry["jsonData"][key] = existing["jsonData"][key]
    if url:
        entry["url"] = url
    if database:
        entry["jsonData"]["dbName"] = database
    return shipped


def _header(path: Path) -> str:
    """The comment lines at the top of a shipped file (what to change and why), kept on install."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def _install(args) -> int:
    source: Path = args.source
    languages = LANGUAGES if args.language == "both" else (args.language,)
    dashboards = sorted(path for language in languages for path in (source / "dashboards" / language).glob("*.json"))
    if not (source / "provisioning" / DATASOURCE_FILE).is_file() or not dashboards:
        raise Refused(_(TEXTS["no_source"]).format(path=source), EXIT_CONFIG)
    if not args.dir.is_dir():
        raise Refused(_(TEXTS["no_dir"]).format(path=args.dir), EXIT_CONFIG)
    url, database, version = _from_settings(args.config)
    url, database, version = args.datasource_url or url, args.database or database, args.influxdb or version
    if url is not None and not url.startswith(("http://", "https://")):
        raise Refused(_(TEXTS["bad_url"]).format(url=url), EXIT_CONFIG)

    datasource_target = args.dir / DATASOURCE_FILE
    datasource = _datasource(source / "provisioning" / DATASOURCE_FILE, datasource_target, url, database, version)
    provider = _load_yaml(source / "provisioning" / PROVIDER_FILE)
    dashboards_dir: Path = args.dashboards_dir.resolve()
    provider["providers"] = [entry for entry in provider["providers"]
                             if Path(entry["options"]["path"]).name in languages]
    for entry in provider["providers"]:
        # Each provider's folder keeps its place under the chosen directory (one per language).
        try:
            relative = Path(entry["options"]["path"]).relative_to(DEFAULT_DASHBOARDS_DIR)
        except ValueError:
            raise Refused(_(TEXTS["bad_provider"]).format(path=source / "provisioning" / PROVIDER_FILE,
                                                          provider=entry["options"]["path"],
                                                          root=DEFAULT_DASHBOARDS_DIR), EXIT_RUNTIME) from None
        entry["options"]["path"] = str(dashboards_dir / relative)
    import yaml

    try:
        for folder in (datasource_target.parent, (args.dir / PROVIDER_FILE).parent):
            folder.mkdir(parents=True, exist_ok=True)
        datasource_target.write_text(_header(source / "provisioning" / DATASOURCE_FILE)
                                     + yaml.safe_dump(datasource, sort_keys=False, allow_unicode=True),
                                     encoding="utf-8")
        (args.dir / PROVIDER_FILE).write_text(_header(source / "provisioning" / PROVIDER_FILE)
                                              + yaml.safe_dump(provider, sort_keys=False, allow_unicode=True),
                                              encoding="utf-8")
        for path in dashboards:
            target = dashboards_dir / path.relative_to(source / "dashboards")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    except OSError as exc:
        raise Refused(_(TEXTS["cannot_write"]).format(error=exc), EXIT_RUNTIME) from None
    entry = datasource["datasources"][0]
    print(_(TEXTS["datasource"]).format(path=datasource_target, uid=entry["uid"], url=entry["url"],
                                        database=entry["jsonData"]["dbName"]))
    print(_(TEXTS["providers"]).format(path=args.dir / PROVIDER_FILE, directory=dashboards_dir))
    print(_(TEXTS["dashboards"]).format(directory=dashboards_dir, count=len(dashboards),
                                        languages=", ".join(languages)))
    if set((entry.get("secureJsonData") or {}).values()) & {"change-me", TOKEN_PLACEHOLDER}:
        print(_(TEXTS["next_credentials"]).format(path=datasource_target))
    else:
        print(_(TEXTS["next_restart"]))
    return EXIT_OK
