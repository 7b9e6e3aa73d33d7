"""The chat window (Gradio) over the rag library."""
