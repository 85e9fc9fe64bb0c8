import json
import subprocess
import sys

import pytest
import zstandard

from alchemiscale_like.errors import KeyMismatch, PayloadTooLarge, ValidationError
from alchemiscale_like.models import verify_keyed_chain
from alchemiscale_like.models.compression import compress, decompress
from alchemiscale_like.protocols.examples import harmonic_network


def test_verify_without_classes_matches_real_keys():
    network = harmonic_network()
    chain_json = network.to_json()
    # A fresh interpreter that never imports the protocol or component classes.
    code = (
        "import json, sys\n"
        "from alchemiscale_like.models.verify import verify_keyed_chain\n"
        "entries = verify_keyed_chain(json.loads(sys.stdin.read()))\n"
        "assert 'alchemiscale_like.protocols' not in sys.modules\n"
        "print(json.dumps([[e.key, e.qualname, list(e.references)] for e in entries]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=chain_json, capture_output=True, text=True, check=True
    )
    entries = json.loads(out.stdout)
    assert [e[0] for e in entries] == [k for k, _ in network.to_keyed_chain()]
    assert entries[-1][1] == "AlchemicalNetwork"
    assert set(entries[-1][2]) == {t.key for t in network.edges} | {n.key for n in network.nodes}


def test_verify_detects_tampering():
    chain = json.loads(harmonic_network().to_json())
    chain[0][1]["smiles"] = "CCCC"
    with pytest.raises(KeyMismatch):
        verify_keyed_chain(chain)


def test_verify_detects_forward_and_dangling_references():
    chain = json.loads(harmonic_network().to_json())
    with pytest.raises(ValidationError, match="not defined before"):
        verify_keyed_chain(chain[1:])
    with pytest.raises(ValidationError, match="not defined before"):
        verify_keyed_chain(list(reversed(chain)))


def test_verify_detects_duplicates_and_bad_structure():
    chain = json.loads(harmonic_network().to_json())
    with pytest.raises(ValidationError, match="twice"):
        verify_keyed_chain([chain[0], chain[0]])
    for bad in ([], {}, [["k"]], [[1, {}]], [["k", {"__qualname__": "X"}]]):
        with pytest.raises(ValidationError):
            verify_keyed_chain(bad)


def test_zstd_round_trip():
    data = b"hello " * 1000
    assert decompress(compress(data)) == data


def test_zstd_bomb_is_refused():
    # 512 MiB of zeros compresses to ~16 KiB; the limit stops decompression early.
    compressor = zstandard.ZstdCompressor(level=1)
    chunk = bytes(1 << 20)
    writer_out = compressor.compressobj()
    bomb = b"".join(writer_out.compress(chunk) for _ in range(512)) + writer_out.flush()
    assert len(bomb) < 1 << 20
    with pytest.raises(PayloadTooLarge):
        decompress(bomb, max_size=8 << 20)


def test_garbage_is_not_zstd():
    with pytest.raises(ValidationError, match="zstd"):
        decompress(b"definitely not zstd")
