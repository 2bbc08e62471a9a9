"""Retrieval-augmented answers with LangChain, served by fastagentic, offline.

The documents are the small text files in ``docs/`` (one passage per paragraph); a keyword
retriever ranks the passages, a prompt puts the best ones in front of the model, and the model
answers from them.  The model is fastagentic's ``ScriptedChatModel``, which quotes the best
passage, so this runs without network or keys: swap in any LangChain chat model
(``init_chat_model("openai:gpt-5")``) and any retriever (a vector store's ``as_retriever()``)
for the real thing.

    fastagentic run examples/langchain_rag/app.py
    curl -s localhost:8000/ask -H 'content-type: application/json' \\
        -d '{"question": "How long does standard shipping take?"}'

The chain is a sequence of four steps (retrieve, prompt, model, text); fastagentic checkpoints
after each, so a run interrupted after retrieval resumes at the prompt.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda

from fastagentic import App
from fastagentic.adapters.langchain import LangChainAdapter
from fastagentic.testing.langchain import ScriptedChatModel

DOCS = Path(__file__).with_name("docs")
STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "my", "of", "on", "or", "our", "the", "to", "what", "when", "where",
    "which", "who", "why", "will", "with", "you", "your"})


def terms(text: str) -> set[str]:
    """Lower-case words without stop words, a plural ``s`` dropped."""
    words = re.findall(r"[a-z0-9$]+", text.lower())
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w
            for w in words if w not in STOP_WORDS}


class KeywordRetriever(BaseRetriever):
    """Passages ranked by how many of the question's words they contain."""

    documents: list[Document]
    k: int = 2

    @classmethod
    def from_directory(cls, folder: Path, **kwargs: Any) -> KeywordRetriever:
        documents = []
        for path in sorted(folder.glob("*.txt")):
            passages = [p.strip() for p in path.read_text().split("\n\n") if p.strip()]
            documents += [Document(page_content=passage,
                                   metadata={"source": path.name, "passage": index})
                          for index, passage in enumerate(passages)]
        return cls(documents=documents, **kwargs)

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        wanted = terms(query)
        scores = [(len(wanted & terms(doc.page_content)), -index)
                  for index, doc in enumerate(self.documents)]
        best = sorted((s for s in scores if s[0] > 0), reverse=True)[: self.k]
        return [self.documents[-index] for _, index in best]


retriever = KeywordRetriever.from_directory(DOCS)


async def retrieve(question: str) -> dict[str, str]:
    """The question and its best passages, numbered, each with its file."""
    documents = await retriever.ainvoke(question)
    context = "\n".join(f"[{n}] ({doc.metadata['source']}) {doc.page_content}"
                        for n, doc in enumerate(documents, 1))
    return {"question": question, "context": context}


prompt = ChatPromptTemplate.from_messages([
    ("system", "Answer the question from the numbered passages only, and name the file."),
    ("human", "Passages:\n{context}\n\nQuestion: {question}"),
])

PASSAGE = re.compile(r"^\[1\] \((?P<source>[^)]+)\) (?P<text>.+)$", re.MULTILINE)


def quote_best_passage(messages: list[BaseMessage]) -> str:
    """The scripted model: quotes the first (best) passage it was given."""
    best = PASSAGE.search(str(messages[-1].content))
    if best is None:
        return "The documents do not say."
    return f"According to {best['source']}: {best['text']}"


model = ScriptedChatModel(respond=quote_best_passage, model_name="offline-rag")

chain = RunnableLambda(retrieve, name="retrieve") | prompt | model | StrOutputParser()

app = App(title="LangChain RAG", version="1.0.0",
          description="Answers from a few bundled documents (LangChain, offline).")


@app.agent_endpoint("/ask", mcp_tool="ask", runnable=LangChainAdapter(chain))
async def ask(question: str) -> str:
    """Questions about shipping, returns and pricing, answered from the documents."""
