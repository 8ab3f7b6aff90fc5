import streamlit as st

st.title("false_negatives")
