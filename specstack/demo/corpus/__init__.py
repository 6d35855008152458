"""The deterministic demo corpus: a mostly-Russian marketplace domain for SFT, GRPO and pretraining.

`build_corpus(CorpusConfig(...), out_dir)` writes every file; the same config gives byte-identical files.
"""

from specstack.demo.corpus.build import build_corpus
from specstack.demo.corpus.config import CorpusConfig
from specstack.demo.corpus.splits import DOC_SEPARATOR, split_documents

__all__ = ["DOC_SEPARATOR", "CorpusConfig", "build_corpus", "split_documents"]
