"""The .vectro file: round trips, memory mapping, and refusal of damaged files."""

import os

import numpy as np
import pytest

import vectro
from vectro.errors import FormatError
from vectro.format.container import ContainerWriter, Section, read_container, write_container


@pytest.mark.parametrize("spec", ["int8", "int4:64", "int8-dim", "binary", "pca:32+nf4", "float16"])
def test_save_load_round_trip(tmp_path, sample, spec):
    base, _ = sample
    packed = vectro.compress(base[:500], spec)
    path = packed.save(tmp_path / "x.vectro")
    loaded = vectro.load(path)
    assert loaded.codec.spec == packed.codec.spec and len(loaded) == 500 and loaded.dim == 384
    assert isinstance(loaded.codes, np.memmap)
    np.testing.assert_array_equal(np.asarray(loaded.codes), packed.codes)
    np.testing.assert_array_equal(loaded.decompress(), packed.decompress())
    header = loaded.metadata["header"]
    assert header["n"] == 500 and header["metric"] == "cosine" and header["bytes_per_vector"] == packed.bytes_per_vector


def test_sections_are_aligned_for_memory_mapping(tmp_path):
    arrays = {"a": np.arange(5, dtype=np.uint8), "b": np.arange(7, dtype="<f4"), "c": np.zeros((0, 3), "<f4")}
    write_container(tmp_path / "f.vectro", {"format": "vectro"}, arrays)
    header, read = read_container(tmp_path / "f.vectro")
    for name, value in arrays.items():
        np.testing.assert_array_equal(read[name], value)
    with open(tmp_path / "f.vectro", "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89VECTRO\n"
    offset_b = data.index(np.arange(7, dtype="<f4").tobytes())
    assert offset_b % 64 == 0


@pytest.fixture
def saved(tmp_path, sample):
    return vectro.compress(sample[0][:300], "int8").save(tmp_path / "x.vectro")


def test_flipped_code_byte_is_detected(saved):
    data = bytearray(saved.read_bytes())
    data[-10] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="checksum mismatch in section 'codes'"):
        vectro.load(saved)
    assert len(vectro.load(saved, verify=False)) == 300  # an explicit opt-out still reads it


def test_flipped_header_byte_is_detected(saved):
    data = bytearray(saved.read_bytes())
    data[40] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="header checksum"):
        vectro.load(saved)


@pytest.mark.parametrize("keep", [4, 20, 100, -1])
def test_truncated_file_is_refused(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep] if keep > 0 else data[:-1])
    with pytest.raises(FormatError, match="truncated|not a .vectro"):
        vectro.load(saved)


def test_wrong_version_and_foreign_files_are_named(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    data[8] = 9
    saved.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="format version 9"):
        vectro.load(saved)
    other = tmp_path / "notes.txt"
    other.write_text("hello world")
    with pytest.raises(FormatError, match="not a vectro file"):
        vectro.load(other)
    with pytest.raises(vectro.VectroError, match="does not exist"):
        vectro.load(tmp_path / "missing.vectro")


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, sample):
    path = vectro.compress(sample[0][:50], "int8").save(tmp_path / "x.vectro")
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with ContainerWriter(path, {}, [Section("codes", "|u1", (10, 4))]) as writer:
            writer.write("codes", np.zeros((5, 4), np.uint8))
            raise RuntimeError("crash mid-write")
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["x.vectro"]
    with pytest.raises(vectro.VectroError, match="got 20 of 40 bytes"):
        with ContainerWriter(path, {}, [Section("codes", "|u1", (10, 4))]) as writer:
            writer.write("codes", np.zeros((5, 4), np.uint8))
    assert path.read_bytes() == before


def test_unwritable_destination_is_a_clear_error(tmp_path, sample):
    packed = vectro.compress(sample[0][:10], "int8")
    with pytest.raises(vectro.VectroError, match="does not exist"):
        packed.save(tmp_path / "no" / "such" / "dir" / "x.vectro")
    with pytest.raises(vectro.VectroError, match="is a directory"):
        packed.save(tmp_path)


# ----- issue #14, defect 6: files get the umask's mode, and the rename is made durable ---------------
@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o640
    os.umask(old)


def test_every_written_file_respects_the_umask(tmp_path, sample, umask_027):
    """Before: mkstemp's 0600 survived the rename, for every file vectro wrote."""
    from vectro.codecs.learned import LearnedProjection

    base, _ = sample
    packed = vectro.compress(base[:100], "int8")
    index = vectro.Index(384, "int8")
    index.add(base[:100])
    written = [packed.save(tmp_path / "a.vectro"), packed.save(tmp_path / "a.npz"), packed.save(tmp_path / "a.vqz"),
               index.save(tmp_path / "i.vxi"), vectro.decompress_file(tmp_path / "a.vectro", tmp_path / "a.npy"),
               LearnedProjection.from_arrays(np.eye(4, 384), base.mean(axis=0)).save(tmp_path / "m.npz")]
    vectro.compress_file(tmp_path / "a.npy", tmp_path / "b.vectro", "int8")
    written.append(tmp_path / "b.vectro")
    for path in written:
        assert os.stat(path).st_mode & 0o777 == umask_027, path


def test_the_directory_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    import stat

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real_fsync(fd))[1])
    write_container(tmp_path / "f.vectro", {"format": "vectro"}, {"a": np.arange(5, dtype=np.uint8)})
    assert synced == [False, True]  # the file's data, then the directory holding its new name
