"""Upload an export folder to the Hugging Face Hub (optional: ``pip install gankit[hub]``).

    from gankit.export.hub import push_to_hub
    url = push_to_hub("runs/a/export", "me/mnist-dcgan")    # uses your `huggingface-cli login`

The folder goes up as it is (weights, ``config.json``, the ``README.md`` model card and its
``samples.png``), so the Hub page shows the card. Anyone can then download it
(``huggingface_hub.snapshot_download(repo_id)``) and load the folder with ``gankit.load``.
"""
from __future__ import annotations

from pathlib import Path


def push_to_hub(folder: str | Path, repo_id: str, *, token: str | None = None,
                private: bool = False, commit_message: str = "Upload gankit generator") -> str:
    """Create (or reuse) the model repository ``repo_id`` and upload ``folder`` into it.

    ``folder`` must be an export folder with its model card (``gankit export RUN`` writes one).
    ``token``: a Hub token (default: the one ``huggingface-cli login`` stored). Returns the URL
    of the upload commit.
    """
    from gankit.errors import GankitError
    from gankit.export.folder import is_export_folder

    folder = Path(folder)
    if not is_export_folder(folder):
        raise GankitError(f"{folder} is not an export folder (config.json + "
                          f"generator.safetensors); write one with `gankit export RUN`")
    if not (folder / "README.md").is_file():
        raise GankitError(f"{folder} has no README.md model card; re-write the export with "
                          f"`gankit export RUN`")
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise GankitError("pushing to the Hugging Face Hub needs huggingface_hub: "
                          "pip install 'gankit[hub]'") from None
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                             commit_message=commit_message)
    return str(getattr(info, "commit_url", info))
