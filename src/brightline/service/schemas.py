"""Request and response bodies of the JSON API (pydantic models; they also document OpenAPI)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

# What a match may tell any caller: the bank and entry it hit, never the entry's contents.
PUBLIC_MATCH_FIELDS = ("bank", "entry_id", "signal_type", "distance", "variant")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MatchOut(BaseModel):
    """One bank entry a signal matched."""

    bank: str
    entry_id: int
    signal_type: str
    distance: int
    variant: str
    query_percent: float | None = Field(default=None, description="Video: percent of the query's frames matched.")
    candidate_percent: float | None = Field(
        default=None, description="Video: percent of the matched video entry's frames matched."
    )
    time_ranges: list[list[float]] | None = Field(
        default=None, description="Video: matched query time ranges, [start, end] in seconds."
    )
    sources: list[dict[str, Any]] | None = Field(
        default=None,
        description="Keys with provenance:read only: the sources vouching for the entry "
        "({source, remote_id, classification, tags}).",
    )

    @model_serializer(mode="wrap")
    def _drop_unset_video_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Image matches keep their original five keys: the video ones (and sources) appear only when set.
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k not in OPTIONAL_MATCH_FIELDS}


# Present only on video matches; recorded match events do not keep them.
VIDEO_MATCH_FIELDS = ("query_percent", "candidate_percent", "time_ranges")
OPTIONAL_MATCH_FIELDS = (*VIDEO_MATCH_FIELDS, "sources")


def public_match(fields: dict[str, Any]) -> MatchOut:
    """Only the public fields of a match (from Match.as_dict or a recorded match event)."""
    public = {name: fields[name] for name in PUBLIC_MATCH_FIELDS}
    public.update({name: fields[name] for name in VIDEO_MATCH_FIELDS if fields.get(name) is not None})
    return MatchOut(**public)


class VpdqFeatureOut(BaseModel):
    """One hashed video frame."""

    frame: int
    quality: int
    pdq: str
    timestamp: float


class HashOut(BaseModel):
    """The signals of one image or video (a video has vpdq and video_md5 instead of pdq and quality)."""

    pdq: str | None
    quality: int | None
    md5: str
    sha256: str
    low_quality: bool = Field(description="PDQ quality (every frame's, for a video) is below the floor.")
    width: int
    height: int
    format: str
    pdq_dihedral: list[str] | None = None
    video_md5: str | None = None
    vpdq: list[VpdqFeatureOut] | None = None
    duration: float | None = None
    frame_count: int | None = None


class SignalIn(_Strict):
    """One hash to look up."""

    type: str = Field(max_length=64, description="Signal type, e.g. pdq, md5, sha256.")
    value: str = Field(max_length=4096, description="The hash, as hex.")


class MatchRequest(_Strict):
    """A batch of hashes to look up."""

    signals: list[SignalIn] = Field(min_length=1)


class SignalResult(BaseModel):
    """The matches of one looked-up hash."""

    type: str
    value: str
    matches: list[MatchOut]


class MatchResponse(BaseModel):
    """Matches per signal, in request order."""

    matched: bool
    results: list[SignalResult]


class ScanActions(BaseModel):
    """What the rules decided for a matched scan: the platform enforces ``block``/``quarantine`` itself."""

    block: bool = Field(description="Refuse or take the content down.")
    quarantine: bool = Field(description="Hide the content pending review.")
    review_case_id: int | None = Field(description="The review case opened for this scan, if any.")
    notice: str | None = Field(description="Text to show the user (notify_user rules).")
    rules: list[str] = Field(description="Rules that fired.")
    withheld: list[str] = Field(description="Actions held back, and why (e.g. an unverified list never blocks).")


class ScanResponse(BaseModel):
    """Outcome of a scan; ``scan_id`` is set when a match was recorded, ``actions`` what the rules decided."""

    matched: bool
    scan_id: int | None = None
    replayed: bool = False
    low_quality: bool = False
    matches: list[MatchOut]
    actions: ScanActions | None = None


class BankCreate(_Strict):
    """A new bank."""

    name: str = Field(max_length=64)
    domain: str = "other"
    threshold: int | None = None
    description: str = ""


class BankPatch(_Strict):
    """Bank changes; only the fields present change (``threshold: null`` restores the default)."""

    name: str | None = Field(default=None, max_length=64)
    domain: str | None = None
    threshold: int | None = None
    description: str | None = None
    enabled: bool | None = None


class EntryIn(_Strict):
    """One hash to add to a bank."""

    signal_type: str = Field(max_length=64)
    value: str = Field(max_length=4096)
    source: str = ""
    category: str = ""
    domain: str | None = None
    note: str | None = None
    enabled: bool = True


class EntriesIn(_Strict):
    """Hashes to add to a bank in one all-or-nothing write."""

    entries: list[EntryIn] = Field(min_length=1)


class EntryPatch(_Strict):
    """Enable or disable an entry."""

    enabled: bool


class KeyCreate(_Strict):
    """A new API key."""

    name: str = Field(max_length=128)
    scopes: list[str] = Field(min_length=1)
    rate_limit_per_minute: int | None = Field(default=None, ge=0)
