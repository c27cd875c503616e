"""Runtime settings, from command-line options or CALANQUE_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set. Environment variables use the CALANQUE_ prefix."""

    model_config = SettingsConfigDict(env_prefix="CALANQUE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 1026
    data_dir: Path = Path("calanque-data")
    database_url: str | None = None
    base_url: str | None = Field(default=None, description="public URL of this server, for hosted contexts")
    max_body_bytes: int = 2_000_000
    max_limit: int = 1000
    default_limit: int = 20
    max_history_rows: int = 2_000_000
    max_batch: int = 1000
    context_fetch_timeout: float = 5.0
    context_preload: Path | None = Field(default=None, description="JSON file mapping context URLs to local files")
    workers: int = 1
    postgis: str = Field(default="auto", description="PostgreSQL geo-queries with PostGIS: auto (when the "
                         "extension is installed), on (required) or off")
    mqtt_url: str | None = Field(default=None, description="MQTT broker of the network servers, for downlinks "
                                 "(mqtt://host:port)")
    tts_tenant: str = Field(default="ttn", description="The Things Stack tenant id used in downlink topics")
    max_indicator_days: int = Field(default=400, description="longest period a use-case indicator request may cover")
    usecase_paths: str = Field(default="", description="extra use-case folders, separated by os.pathsep")
    # authentication and protection (calanque.auth, docs/security.md)
    auth: bool = Field(default=True, description="require identities (off only on a loopback address)")
    oidc_issuer: str | None = Field(default=None, description="OpenID Connect issuer URL of the identity provider")
    oidc_audience: str | None = Field(default=None, description="audience the provider's tokens must carry")
    oidc_jwks_url: str | None = Field(default=None, description="JWKS URL (default: from the issuer's discovery)")
    oidc_claim_prefix: str = Field(default="calanque_", description="prefix of the role, tenant, usecases, "
                                   "communes and sites claims of the tokens")
    cors_origins: str = Field(default="", description="browser origins allowed to call the API, comma-separated")
    rate_limit_per_minute: int = Field(default=600, description="requests per minute per identity (per process)")
    rate_limit_anonymous_per_minute: int = Field(default=120, description="anonymous requests per minute per "
                                                 "client address (per process)")
    login_max_failures: int = Field(default=5, description="failed logins per user name or address per 15 minutes")
    session_hours: float = Field(default=8.0, description="lifetime of a browser session")
    # web UI (calanque.web)
    map_tile_url: str = Field(default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                              description="map tile URL template ({z}/{x}/{y}, optional {s}); '' for no tiles")
    map_tile_attribution: str = Field(default="© OpenStreetMap contributors",
                                      description="attribution shown on the map for its tiles")
    territory_geojson: Path | None = Field(default=None, description="GeoJSON FeatureCollection of the commune "
                                           "outlines (e.g. from IGN ADMIN EXPRESS), properties 'code' and 'name'")

    def public_base_url(self) -> str:
        """The base URL clients reach this server at."""
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")
