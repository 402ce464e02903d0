"""Settings from the environment (prefix BRIGHTLINE_), built by the CLI or create_app(), never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from brightline.errors import ConfigurationError

DEFAULT_SECRET = "change-me"  # noqa: S105 - the placeholder that production refuses


def default_data_dir() -> Path:
    """Where the SQLite database, index snapshots and other local state live by default."""
    return Path.home() / ".local" / "share" / "brightline"


class Settings(BaseSettings):
    """Every brightline setting; each one is documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="BRIGHTLINE_", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        default="development", description="development, test or production; production refuses default secrets."
    )
    data_dir: Path = Field(
        default_factory=default_data_dir, description="Folder for the SQLite database and index snapshots."
    )
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in data_dir.")
    secret_key: str = Field(
        default=DEFAULT_SECRET, description="Secret for signing; must be changed outside development."
    )
    max_image_pixels: int = Field(
        default=100_000_000, ge=1, description="Images with more pixels are refused before decoding."
    )
    max_file_bytes: int = Field(
        default=512 * 1024 * 1024, ge=1, description="Files larger than this are refused unread."
    )
    min_quality: int = Field(
        default=50, ge=0, le=100, description="PDQ hashes below this quality are reported but not matched."
    )
    pdq_threshold: int = Field(
        default=31, ge=0, le=128, description="Default PDQ match distance for banks that set none."
    )
    video_query_percent: float = Field(
        default=80.0, ge=0, le=100, description="Video match: least percent of the query's frames matched."
    )
    video_candidate_percent: float = Field(
        default=0.0, ge=0, le=100, description="Video match: least percent of the candidate's frames matched."
    )
    video_seconds_per_hash: float = Field(
        default=1.0, ge=0, description="vPDQ: hash one frame per this many seconds; 0 = every frame."
    )
    video_max_seconds: float = Field(default=0.0, ge=0, description="Video budget: seconds decoded; 0 = no limit.")
    video_max_frames: int = Field(default=0, ge=0, description="Video budget: frames decoded; 0 = no limit.")
    video_accurate_rgb: bool = Field(
        default=False,
        description="Video: swscale's exact YUV->RGB conversion, as the shared reference hashes were made (slower).",
    )
    match_dihedral: bool = Field(default=False, description="Also match the 7 rotated/flipped PDQ variants.")
    trim_borders: bool = Field(
        default=True, description="Also match the picture inside near-uniform borders (letterbox, padding)."
    )
    region_hashes: bool = Field(
        default=True,
        description="Store pdq_regions (crop and part hashes) for images added to a bank, for crop/overlay matching.",
    )
    fast_decode_min_side: int = Field(
        default=1024,
        ge=64,
        description="Fast path: decode large images at a reduced scale, short side no smaller than this.",
    )
    workers: int = Field(default=0, ge=0, description="Scan worker processes; 0 means one per CPU core.")
    host: str = Field(default="127.0.0.1", description="Address `brightline serve` listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port `brightline serve` listens on.")
    index_refresh_seconds: float = Field(
        default=1.0, gt=0, description="Service: how often each worker applies bank changes to its index."
    )
    max_index_age_seconds: float = Field(
        default=5.0, gt=0, description="Service: /readyz fails when the index was last refreshed longer ago."
    )
    scan_counter_flush_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Service: non-matching scans are counted in memory and written this often; 0 = a write per scan.",
    )
    hashing_threads: int = Field(
        default=0,
        ge=0,
        description="Service: media hashed at once per worker; 0 = CPU cores divided by `serve --workers`.",
    )
    max_request_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1, description="Service: request bodies larger than this get 413."
    )
    max_batch: int = Field(default=1000, ge=1, description="Service: most signals one /v1/match request may carry.")
    rate_limit_per_minute: int = Field(
        default=0, ge=0, description="Service: requests per minute per API key without its own limit; 0 = unlimited."
    )

    # --- after a match: rules, evidence, review, reporting (see README "After a match") ---
    rules_file: Path | None = Field(
        default=None, description="TOML file of match rules, loaded into the database at start-up; empty = none."
    )
    evidence_dir: Path | None = Field(
        default=None, description="Folder for encrypted evidence files; empty means data_dir/evidence."
    )
    evidence_key: str = Field(
        default="",
        description="Base64 of a 32-byte AES-256 key for evidence at rest (comma-separated, newest first, to rotate); "
        "empty derives one from secret_key.",
    )
    webhook_secret: str = Field(
        default="", description="Shared secret signing rule webhooks (HMAC-SHA256); empty derives one from secret_key."
    )
    review_daily_cap: int = Field(
        default=200, ge=0, description="Console: items one reviewer may decide per UTC day; 0 = no cap."
    )
    review_break_minutes: int = Field(
        default=50, ge=0, description="Console: remind a reviewer to take a break after this many minutes; 0 = never."
    )
    review_claim_minutes: int = Field(
        default=30, ge=1, description="Console: a claimed item returns to the queue after this many minutes."
    )
    console_session_minutes: int = Field(default=480, ge=1, description="Console: a login lasts this many minutes.")
    ncmec_environment: Literal["test", "production"] = Field(
        default="test", description="NCMEC CyberTipline: which of its two services reports go to."
    )
    ncmec_url: str = Field(
        default="", description="NCMEC CyberTipline base URL; empty = the official one for ncmec_environment."
    )
    ncmec_username: str = Field(default="", description="NCMEC CyberTipline: the ESP's API user name.")
    ncmec_password: str = Field(default="", description="NCMEC CyberTipline: the ESP's API password.")
    preservation_days: int = Field(
        default=365, ge=1, description="Days a reported case's evidence and records are preserved (18 U.S.C. 2258A)."
    )
    preservation_days_by_jurisdiction: dict[str, int] = Field(
        default_factory=dict,
        description='Preservation days per report jurisdiction (JSON), e.g. {"US": 365}; others: the default.',
    )
    ncmec_reporter_first_name: str = Field(default="", description="NCMEC report: the reporting person's first name.")
    ncmec_reporter_last_name: str = Field(default="", description="NCMEC report: the reporting person's last name.")
    ncmec_reporter_email: str = Field(default="", description="NCMEC report: the reporting person's email (required).")
    report_destination: Literal["cybertipline", "file_drop"] = Field(
        default="cybertipline", description="Where reports go: NCMEC's CyberTipline or a folder (file_drop)."
    )
    report_drop_dir: Path | None = Field(
        default=None, description="file_drop destination: folder reports are written to; empty = data_dir/reports."
    )
    min_independent_sources: int = Field(
        default=1,
        ge=1,
        description="Rules: hits on entries vouched by fewer independent sources may only lead to review/quarantine.",
    )
    # --- hash-list sources (see README "Keeping lists in sync") ---
    source_sync_seconds: float = Field(
        default=300.0, ge=0, description="Service: sync every source and send queued feedback this often; 0 = never."
    )
    source_max_remove_percent: float = Field(
        default=20.0, ge=0, description="Sources: pause a sync that would remove more than this % of a bank."
    )
    source_max_add_percent: float = Field(
        default=500.0, ge=0, description="Sources: pause a sync that would add more than this % of a bank's size."
    )
    source_safety_min_entries: int = Field(
        default=100, ge=0, description="Sources: banks smaller than this are not held by the two limits above."
    )
    # --- retention (see README "Retention") ---
    retention_file: Path | None = Field(
        default=None, description="TOML retention policy per jurisdiction; empty = the retention_* settings below."
    )
    retention_unconfirmed_days: int = Field(
        default=90, ge=0, description="Retention: matched scans whose case is undecided; 0 = kept indefinitely."
    )
    retention_false_positive_days: int = Field(
        default=30, ge=0, description="Retention: cases decided false positive (or upheld on appeal); 0 = kept."
    )
    retention_confirmed_days: int = Field(
        default=365, ge=0, description="Retention: confirmed cases, after their preservation; 0 = kept indefinitely."
    )
    retention_max_days: int = Field(
        default=0, ge=0, description="Retention: the most any case is kept unless held or preserved; 0 = no maximum."
    )
    retention_interval_hours: float = Field(
        default=24.0, ge=0, description="Service: run retention once per this many hours (one runner); 0 = never."
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEFAULT_SECRET:
            raise ConfigurationError("BRIGHTLINE_SECRET_KEY must be set to a non-default value in production")
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'brightline.db'}"

    @property
    def index_dir(self) -> Path:
        """Folder holding persisted index snapshots."""
        return self.data_dir / "index"

    @property
    def effective_evidence_dir(self) -> Path:
        """Folder holding encrypted evidence files."""
        return self.evidence_dir if self.evidence_dir is not None else self.data_dir / "evidence"
