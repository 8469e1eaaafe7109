"""The seed's curl session from the README, run as written against two `vectro serve` processes.

Only the ports change (free ones for 3000 and 8000). The models are stand-ins for speed and for
the network: `minilm` is the bag-of-words model behind a local /embed, `openai-small` a local
server speaking OpenAI's embeddings API (tests/embed/fake_apis.py) with its key in OPENAI_API_KEY.
"""

import json
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from ..embed.fake_apis import KEY, FakeAPI
from .fake_text import DIM, WordsServer
from .process import Server

README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "<!-- seed curl session: tests/server/test_readme_session.py runs these commands -->"


def session() -> list[tuple[str, str]]:
    """(command, the output the README shows or '') for each `$ curl` of the marked block."""
    block = README.read_text().split(MARK, 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    steps, command, shown = [], None, []
    lines = block.splitlines()
    for line in lines + ["$ end"]:
        if line.startswith("$ "):
            if command is not None:
                steps.append((command, "\n".join(shown)))
            command, shown = (line[2:], []) if line.startswith("$ curl") else (None, [])
        elif command is not None and (command.endswith("\\") or not shown and line.startswith("  ")):
            command = command[:-1].rstrip() + " " + line.strip() if command.endswith("\\") else command + line
        elif command is not None:
            shown.append(line)
    return steps


def test_the_readme_names_the_session():
    commands = [c for c, _ in session()]
    assert len(commands) == 3
    assert commands[0].startswith("curl -X POST http://localhost:3000/upsert-text")
    assert "-G -d 'top_k=3'" in commands[1] and commands[2] == "curl http://localhost:8000/models"


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl command")
def test_the_seed_curl_session_against_vectro_serve(tmp_path, monkeypatch):
    with WordsServer() as words, FakeAPI("openai", dim=1536, model="text-embedding-3-small") as openai:
        (tmp_path / "models.toml").write_text(
            f'[models.minilm]\nprovider = "vectro"\nurl = "{words.url}"\nmodel = "words"\ndimension = {DIM}\n\n'
            f'[models.openai-small]\nprovider = "openai"\nmodel = "text-embedding-3-small"\ndimension = 1536\n'
            f'url = "{openai.url}"\n')
        monkeypatch.setenv("VECTRO_MODELS", str(tmp_path / "models.toml"))
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        vectron, embedding = Server(tmp_path / "vectro-data"), Server(tmp_path / "vectro-embed", "--embeddings-only")
        try:
            ports = {"localhost:3000": f"127.0.0.1:{vectron.port}", "localhost:8000": f"127.0.0.1:{embedding.port}"}

            def curl(command: str) -> subprocess.CompletedProcess:
                for seed, real in ports.items():
                    command = command.replace(seed, real)
                return subprocess.run(["bash", "-c", command + " -sS"], capture_output=True, text=True, timeout=60)

            (upsert, shown), (search, _), (models, _) = session()
            done = curl(upsert)
            assert done.returncode == 0 and json.loads(done.stdout) == json.loads(shown)

            done = curl(search)
            if done.returncode == 3:  # this curl refuses the -G URL (spaces) and sends nothing
                assert "URL" in done.stderr
                # what a curl that accepts it sends: the JSON as a query-string key, no body
                query = urllib.parse.quote('{"text": "sample document", "model_id": "openai-small"}') + "&top_k=3"
                done = curl(f"curl -X POST 'http://localhost:3000/search/text?{query}' "
                            "-H 'Content-Type: application/json'")
            answer = json.loads(done.stdout)
            assert answer == {"results": [], "query": "sample document", "success": True,
                              "message": "Found 0 similar vectors", "model_id": "openai-small"}
            assert openai.texts_seen == ["sample document"]  # the query went to (the stand-in for) OpenAI

            # doc1 was stored with the default model: found without model_id, and under openai-small once stored there
            found = curl("curl -X POST 'http://localhost:3000/search/text?top_k=3' -H 'Content-Type: application/json' "
                         "-d '{\"text\": \"sample document\"}'")
            hit = json.loads(found.stdout)["results"][0]
            assert hit["id"] == "doc1" and hit["text"] == "This is a sample document for vector search"
            curl("curl -X POST http://localhost:3000/upsert-text -H 'Content-Type: application/json' -d "
                 "'{\"id\": \"doc1\", \"text\": \"This is a sample document for vector search\", "
                 "\"model_id\": \"openai-small\"}'")
            query = urllib.parse.quote('{"text": "sample document", "model_id": "openai-small"}') + "&top_k=3"
            answer = json.loads(curl(f"curl -X POST 'http://localhost:3000/search/text?{query}'").stdout)
            assert [r["id"] for r in answer["results"]] == ["doc1"]

            done = curl(models)
            listed = json.loads(done.stdout)
            assert done.returncode == 0 and listed["default"] == "minilm"
            assert {m["id"]: m["dimensions"] for m in listed["models"]}["openai-small"] == 1536
            assert re.search(r'"available":\s*true', done.stdout)
        finally:
            vectron.stop()
            embedding.stop()
