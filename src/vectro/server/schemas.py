"""Request bodies: pydantic models that reject unknown fields (the only aliases are k/limit/top_k)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_ID_BYTES = 256


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def record_id(value) -> str:
    """Ids are strings of 1-256 UTF-8 bytes; JSON integers are accepted and become strings."""
    text = str(value)
    if not 1 <= len(text.encode("utf-8")) <= MAX_ID_BYTES:
        raise ValueError(f"an id is 1-{MAX_ID_BYTES} UTF-8 bytes, got {len(text.encode('utf-8'))}")
    return text


def _coerce_id(value):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"an id is a string or an integer, got {type(value).__name__}")
    return record_id(value)


RecordId = Annotated[str, BeforeValidator(_coerce_id),
                     Field(description="1-256 UTF-8 bytes; JSON integers are accepted and become strings")]


class CreateCollection(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="1-64 of [A-Za-z0-9_-]")
    dimension: Optional[int] = Field(None, ge=1, le=65536, description="optional with model: the model's")
    metric: Literal["cosine", "dot", "l2"] = "cosine"
    codec: str = Field("int8", description="a vectro codec spec: int8, float16, nf4, binary, pq:48, ...")
    rescore: Optional[bool] = Field(None, description="re-score the shortlist on the originals (default: when kept)")
    ann: Optional[Literal["hnsw"]] = None
    keep_originals: Union[bool, Literal["float32", "float16"]] = Field(
        True, description="keep the originals on disk (true = float32) for rescoring and re-encoding")
    fit_rows: int = Field(5000, ge=1, description="records before a trainable codec (or the HNSW graph) is fitted")
    oversampling: float = Field(4.0, ge=1, le=100, description="shortlist = k x this when rescoring")
    model: Optional[str] = Field(None, max_length=256, description="the registry model that embeds its text "
                                 "(default: the registry's default when no dimension is given)")
    get_or_create: bool = False


class Record(Strict):
    id: RecordId
    vector: Optional[list[float]] = None
    text: Optional[str] = Field(None, description="instead of vector: embedded with the collection's model, "
                                "kept in the payload as 'text'")
    payload: Optional[dict[str, Any]] = None

    @model_validator(mode="after")
    def _vector_or_text(self):
        if (self.vector is None) == (self.text is None):
            raise ValueError("give exactly one of vector and text")
        return self


class Upsert(Strict):
    records: list[Record] = Field(min_length=1)


class GetRecords(Strict):
    ids: list[RecordId] = Field(min_length=1)
    with_vector: bool = False
    with_payload: bool = True


class DeleteRecords(Strict):
    ids: Optional[list[RecordId]] = None
    filter: Optional[dict[str, Any]] = None

    @model_validator(mode="after")
    def _one(self):
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give exactly one of ids and filter")
        return self


class CountRecords(Strict):
    filter: Optional[dict[str, Any]] = None


class Scroll(Strict):
    filter: Optional[dict[str, Any]] = None
    limit: int = Field(100, ge=1)
    cursor: Optional[str] = None
    with_vector: bool = False
    with_payload: bool = True


class Search(Strict):
    vector: Optional[list[float]] = None
    vectors: Optional[list[list[float]]] = Field(None, min_length=1)
    text: Optional[str] = Field(None, description="a query text, embedded with the collection's model")
    texts: Optional[list[str]] = Field(None, min_length=1)
    k: Optional[int] = Field(None, ge=1)
    limit: Optional[int] = Field(None, ge=1, description="alias of k")
    top_k: Optional[int] = Field(None, ge=1, description="alias of k")
    filter: Optional[dict[str, Any]] = None
    with_payload: bool = True
    with_vector: bool = False
    score_threshold: Optional[float] = None
    offset: int = Field(0, ge=0)
    oversampling: Optional[float] = Field(None, ge=1, le=100)
    rescore: Optional[bool] = None
    exact: bool = False

    @model_validator(mode="after")
    def _one_of(self):
        if sum(v is not None for v in (self.vector, self.vectors, self.text, self.texts)) != 1:
            raise ValueError("give exactly one of vector, vectors, text and texts")
        given = [v for v in (self.k, self.limit, self.top_k) if v is not None]
        if len(given) > 1:
            raise ValueError("give k once (k, limit and top_k are the same parameter)")
        self.k = given[0] if given else 10
        return self
