"""Reserved share (预留份额): year policy, the form's rules and amounts, the confirmation
workflow, and the PDF confirmation sheets."""
