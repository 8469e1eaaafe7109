"""Every input the CLI and API read, and every way an input can be wrong."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import vectro
from vectro.format.inputs import load_vectors, open_vectors


@pytest.fixture
def X(sample):
    return sample[0][:120]


def test_npy_is_memory_mapped_and_cast(tmp_path, X):
    np.save(tmp_path / "x.npy", X.astype(np.float16))
    source = open_vectors(tmp_path / "x.npy")
    assert isinstance(source.array, np.memmap) and source.dtype == "float16"
    np.testing.assert_array_equal(source.read(), X.astype(np.float16).astype(np.float32))


def test_npz_embeddings_key_single_array_and_ambiguity(tmp_path, X):
    np.savez(tmp_path / "a.npz", embeddings=X, ids=np.arange(len(X)))
    np.testing.assert_array_equal(load_vectors(tmp_path / "a.npz"), X)
    np.savez(tmp_path / "b.npz", vecs=X.astype(np.float64))
    np.testing.assert_array_equal(load_vectors(tmp_path / "b.npz"), X)
    np.savez(tmp_path / "c.npz", first=X, second=X)
    with pytest.raises(vectro.VectroError, match="--column"):
        load_vectors(tmp_path / "c.npz")
    np.testing.assert_array_equal(load_vectors(tmp_path / "c.npz", column="second"), X)


@pytest.mark.parametrize("fixed", [True, False])
def test_parquet_column_inferred_or_named(tmp_path, X, fixed):
    values = pa.array(X.reshape(-1))
    column = pa.FixedSizeListArray.from_arrays(values, 384) if fixed else pa.array(X.tolist(), pa.list_(pa.float32()))
    pq.write_table(pa.table({"id": np.arange(len(X)), "text": ["t"] * len(X), "embedding": column}), tmp_path / "x.parquet",
                   row_group_size=50)
    np.testing.assert_array_equal(load_vectors(tmp_path / "x.parquet"), X)
    with pytest.raises(vectro.VectroError, match="no column 'vec'"):
        load_vectors(tmp_path / "x.parquet", column="vec")
    with pytest.raises(vectro.VectroError, match="not a list of numbers"):
        load_vectors(tmp_path / "x.parquet", column="text")


def test_parquet_with_several_vector_columns_needs_a_choice(tmp_path, X):
    lists = pa.array(X.tolist(), pa.list_(pa.float32()))
    pq.write_table(pa.table({"a": lists, "b": lists}), tmp_path / "x.parquet")
    with pytest.raises(vectro.VectroError, match=r"several vector columns \['a', 'b'\]"):
        load_vectors(tmp_path / "x.parquet")
    assert load_vectors(tmp_path / "x.parquet", column="b").shape == (120, 384)


def test_parquet_ragged_rows_are_named(tmp_path):
    pq.write_table(pa.table({"embedding": pa.array([[1.0, 2.0], [1.0], [3.0, 4.0]])}), tmp_path / "r.parquet")
    with pytest.raises(vectro.VectroError, match="row 1 has 1 values"):
        load_vectors(tmp_path / "r.parquet")


def test_hugging_face_dataset_folder(tmp_path, X):
    """A `datasets.save_to_disk` folder: Arrow stream shards plus JSON metadata."""
    folder = tmp_path / "ds"
    folder.mkdir()
    table = pa.table({"text": ["t"] * len(X), "embeddings": pa.array(X.tolist(), pa.list_(pa.float32()))})
    for i, (start, stop) in enumerate([(0, 70), (70, 120)]):
        with pa.OSFile(str(folder / f"data-0000{i}-of-00002.arrow"), "wb") as sink:
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table.slice(start, stop - start))
    (folder / "dataset_info.json").write_text("{}")
    (folder / "state.json").write_text("{}")
    source = open_vectors(folder)
    assert (source.n, source.dim) == (120, 384)
    np.testing.assert_array_equal(source.read(), X)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((0, 4), np.float32), "empty"),
        (np.zeros(5, np.float32), "1-D"),
        (np.array([["a", "b"]]), "expected real numbers"),
    ],
)
def test_bad_arrays_are_named(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(vectro.VectroError, match=message):
        load_vectors(tmp_path / "bad.npy")


def test_nan_names_the_first_bad_row_across_blocks(tmp_path, X):
    bad = X.copy()
    bad[97, 5] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(vectro.VectroError, match="row 97 holds inf at dimension 5"):
        for _ in open_vectors(tmp_path / "bad.npy").blocks(10):
            pass


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(vectro.VectroError, match="does not exist"):
        load_vectors(tmp_path / "nope.npy")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(vectro.VectroError, match="expected .npy"):
        load_vectors(tmp_path / "x.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(vectro.VectroError, match="not a dataset folder"):
        load_vectors(tmp_path / "empty")
