"""A tiny sentence-transformers model built in the tests: the fast path for everything that
embeds (index stages, retrieval, RAG eval, the gateway), so the default run needs no download.

A word-level vocabulary over a fixed word list keeps lexical overlap dominant in the mean-pooled
embeddings of a random BERT: a query that shares rare words with a passage finds it.
"""

from __future__ import annotations

import re
from pathlib import Path

_WORD_LIST = (
    "the a an of to and in is it for on with as by at from be this that are or was your you we "
    "our can how what when where why which do does not no yes order orders parcel parcels "
    "shipping ship shipped delivery deliver days day week weeks refund refunds return returns "
    "returned item items account accounts password reset login email billing invoice invoices "
    "card cards payment pay paid charge charged gift voucher technical app crash error update "
    "store stores shop product products price prices warranty repair policy policies support "
    "customer customers help question answer answers within free cost costs international "
    "express standard tracking number code label box damaged broken replace replacement "
    "cancel cancelled subscription plan plans upgrade downgrade phone address change "
    "manual guide section title heading paris france capital river moon sun"
)
WORDS = _WORD_LIST.split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


_STOP_LIST = (
    "the a an of to and in is it for on with as by at from be this that are or was your you we "
    "our can how what when where why which do does not no yes my i"
)
STOPWORDS = frozenset(_STOP_LIST.split())


_BUILT: dict[tuple[int, int, int], Path] = {}  # one build per process and settings, then copies


def build_tiny_embedder(folder: Path, *, hidden: int = 64, layers: int = 1, seed: int = 0) -> Path:
    """Write a sentence-transformers model folder (safetensors) to `folder` and return it.

    The model is built once per test process and settings; later calls copy that folder (the
    build is deterministic, so a copy is what a new build would write)."""
    import shutil
    import tempfile

    key = (hidden, layers, seed)
    if key not in _BUILT:
        _BUILT[key] = _build(Path(tempfile.mkdtemp(prefix="tiny-embedder-")), hidden, layers, seed)
    out = Path(folder) / "model"
    shutil.copytree(_BUILT[key], out, dirs_exist_ok=True)
    return out


def _build(folder: Path, hidden: int, layers: int, seed: int) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = Path(folder)
    raw = folder / "_transformer"
    raw.mkdir(parents=True, exist_ok=True)
    vocab = SPECIAL + sorted(set(WORDS))
    ids = {token: index for index, token in enumerate(vocab)}
    core = Tokenizer(WordLevel(ids, unk_token="[UNK]"))
    core.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=256,
    )
    model = BertModel(config)
    with torch.no_grad():
        # A bag of words: no positions, no segments, stop words and specials embed to zero (the
        # embedding LayerNorm maps them to its zero bias), and the one layer's attention and
        # feed-forward outputs are zeroed, so mean pooling averages the content words' vectors.
        model.embeddings.position_embeddings.weight.zero_()
        model.embeddings.token_type_embeddings.weight.zero_()
        for index, token in enumerate(vocab):
            if token in SPECIAL or token in STOPWORDS:
                model.embeddings.word_embeddings.weight[index].zero_()
        for layer in model.encoder.layer:
            layer.attention.output.dense.weight.zero_()
            layer.attention.output.dense.bias.zero_()
            layer.output.dense.weight.zero_()
            layer.output.dense.bias.zero_()
    model.save_pretrained(raw, safe_serialization=True)
    tokenizer.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=128)
    pooling = Pooling(hidden, pooling_mode="mean")
    st = SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu")
    out = folder / "model"
    st.save(str(out), safe_serialization=True)
    return out


def words(text: str) -> list[str]:
    """The words of `text` the tiny vocabulary knows (for tests that reason about overlap)."""
    known = set(WORDS)
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w in known]
