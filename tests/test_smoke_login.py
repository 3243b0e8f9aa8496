def test_login_and_home(client, tree, login):
    login(client, "13700001001")
    page = client.get("/").get_data(as_text=True)
    assert "广州协作办" in page
